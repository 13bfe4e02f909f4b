"""
Charts drawn on the server as inline SVG: nothing to load, nothing from the internet, and they
print. Each bar or line carries its figure (``data-day``, ``data-value``) and a tooltip
(``<title>``), so a reader hovering, a screen reader and the tests read the same numbers.
Colours come from the stylesheet (``dashboard/dashboard.css``), so they follow the admin's
light and dark themes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from functools import lru_cache
from math import ceil, log10

from babel import dates as babel_dates
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from core.formatting import format_date, format_money, format_number

from .selectors import PlanMovement, Point

WIDTH = 640
HEIGHT = 200
LEFT = 72  # room for the y axis' labels
RIGHT = 20  # room for the last day's label
TOP = 10
BOTTOM = 24  # room for the x axis' labels

# A year's chart has a few thousand figures, and the same days and small counts recur in every
# chart: formatting each once (Babel takes tens of microseconds) keeps the page fast.
_count = lru_cache(maxsize=4096)(format_number)
_day = lru_cache(maxsize=4096)(format_date)
_money = lru_cache(maxsize=4096)(format_money)
_BENGALI_DIGITS = str.maketrans(
    "0123456789", "\u09e6\u09e7\u09e8\u09e9\u09ea\u09eb\u09ec\u09ed\u09ee\u09ef"
)


def _nice_ceiling(value: float, *, whole: bool = False) -> float:
    """The axis' top, at least ``value``: 1, 2, 2.5 or 5 times a power of ten; for counts a whole
    number, in finer steps (a middle line is drawn only where it is whole)."""
    if value <= 0:
        return 1.0
    power = 10 ** int(log10(value) // 1)
    steps = (1, 1.5, 2, 3, 4, 5, 6, 8, 10) if whole else (1, 2, 2.5, 5, 10)
    for step in steps:
        if value <= step * power:
            return float(max(ceil(step * power), 1)) if whole else step * power
    return 10 * power


def _number(value: Decimal | int, money: bool, language: str) -> str:
    return _money(Decimal(value), language) if money else _count(int(value), language)


@lru_cache(maxsize=4096)
def _day_label(day: date, monthly: bool, language: str, short: bool = False) -> str:
    pattern = ("MMM ''yy" if short else "MMM y") if monthly else "d MMM"
    text = babel_dates.format_date(day, format=pattern, locale=language)
    # Babel writes Latin digits; Bengali readers read their own (as core.formatting writes them).
    return text.translate(_BENGALI_DIGITS) if language == "bn" else text


@lru_cache(maxsize=64)
def _month(day: date, language: str) -> str:
    text = babel_dates.format_date(day, format="MMMM y", locale=language)
    return text.translate(_BENGALI_DIGITS) if language == "bn" else text


def _bar_width(slot: float) -> float:
    """A bar fills its slot but for a small gap, and is never wider than 40."""
    return min(max(slot - min(2.0, slot * 0.2), 0.5), 40.0)


# The markup is written with f-strings: numbers and coordinates need no escaping, and every
# text (labels, names, tooltips) goes through escape().


def _svg(label: str, body: str, *, height: int = HEIGHT, kind: str) -> SafeString:
    label = escape(label)
    return mark_safe(  # noqa: S308 (texts escaped)
        f'<svg class="chart chart-{kind}" viewBox="0 0 {WIDTH} {height}" role="img"'
        f' aria-label="{label}" preserveAspectRatio="xMidYMid meet"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{label}</title>{body}</svg>'
    )


def _y_axis(top: float, money: bool, language: str, *, baseline: float, scale: float) -> str:
    # Counts get a middle line only where it is a whole number.
    fractions = (0, 0.5, 1) if money or top % 2 == 0 else (0, 1)
    parts = []
    for fraction in fractions:
        y = baseline - fraction * top * scale
        value = Decimal(str(top * fraction)) if money else int(top * fraction)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_number(value, money, language))}</text>"
        )
    return "".join(parts)


def _x_labels(days: Sequence[date], slot: float, monthly: bool, language: str, y: float) -> str:
    count = len(days)
    if monthly or count <= 7:
        picked = range(count)
    else:
        picked = sorted({0, count // 4, count // 2, 3 * count // 4, count - 1})
    # A year of months: Dec '25, Jan '26… (the tooltips say December 2025).
    short = monthly and count > 6
    return "".join(
        f'<text class="axis" x="{LEFT + (index + 0.5) * slot:.1f}" y="{y:.1f}"'
        ' text-anchor="middle">'
        + escape(
            _day_label(
                days[index],
                monthly,
                language,
                short,
            )
        )
        + "</text>"
        for index in picked
    )


def bar_chart(
    points: Sequence[Point],
    *,
    label: str,
    money: bool,
    language: str,
    kind: str,
    monthly: bool = False,
    describe: Callable[[Point], str] | None = None,
) -> SafeString:
    """One bar per day (or month): its height the value, its tooltip the day and figure."""
    baseline = HEIGHT - BOTTOM
    top = _nice_ceiling(float(max((point.value for point in points), default=0)), whole=not money)
    scale = (baseline - TOP) / top
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    width = _bar_width(slot)
    bars = []
    for index, point in enumerate(points):
        height = float(point.value) * scale
        when = _month(point.day, language) if monthly else _day(point.day, language)
        text = f"{when}: {_number(point.value, money, language)}"
        if describe is not None:
            text += f" ({describe(point)})"
        bars.append(
            f'<rect class="bar" x="{LEFT + index * slot + (slot - width) / 2:.2f}"'
            f' y="{baseline - height:.2f}" width="{width:.2f}" height="{height:.2f}"'
            f' data-day="{point.day.isoformat()}" data-value="{point.value}"'
            f' data-count="{point.count}"><title>{escape(text)}</title></rect>'
        )
    body = (
        _y_axis(top, money, language, baseline=baseline, scale=scale)
        + "".join(bars)
        + _x_labels([point.day for point in points], slot, monthly, language, HEIGHT - 6)
    )
    return _svg(label, body, kind=kind)


def line_chart(
    days: Sequence[date],
    series: dict[str, list[int]],
    *,
    names: dict[str, str],
    label: str,
    language: str,
    kind: str,
) -> SafeString:
    """One line per series (a status), a point per day; hovering a day shows every figure."""
    baseline = HEIGHT - BOTTOM
    top = _nice_ceiling(
        max((max(values, default=0) for values in series.values()), default=0), whole=True
    )
    scale = (baseline - TOP) / top
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    lines = []
    for key, values in series.items():
        coordinates = " ".join(
            f"{LEFT + (index + 0.5) * slot:.1f},{baseline - value * scale:.1f}"
            for index, value in enumerate(values)
        )
        lines.append(
            f'<polyline class="line line-{key}" points="{coordinates}" data-series="{key}"'
            f' data-values="{",".join(str(value) for value in values)}">'
            f"<title>{escape(names[key])}</title></polyline>"
        )
    hovers = []
    for index, day in enumerate(days):
        figures = ", ".join(
            f"{names[key]} {_count(values[index], language)}" for key, values in series.items()
        )
        hovers.append(
            f'<rect class="hover" x="{LEFT + index * slot:.2f}" y="{TOP}" width="{slot:.2f}"'
            f' height="{baseline - TOP}"><title>{escape(_day(day, language))}: {escape(figures)}'
            "</title></rect>"
        )
    body = (
        _y_axis(top, False, language, baseline=baseline, scale=scale)
        + "".join(lines)
        + "".join(hovers)
        + _x_labels(days, slot, False, language, HEIGHT - 6)
    )
    return _svg(label, body, kind=kind)


def diverging_chart(
    up: Sequence[Point],
    down: Sequence[Point],
    *,
    label: str,
    up_name: str,
    down_name: str,
    language: str,
    kind: str,
) -> SafeString:
    """Two counts per day on one axis: ``up`` above the middle line, ``down`` below it."""
    middle = TOP + (HEIGHT - BOTTOM - TOP) / 2
    top = _nice_ceiling(max((p.value for p in (*up, *down)), default=0), whole=True)
    scale = (middle - TOP) / top
    slot = (WIDTH - LEFT - RIGHT) / max(len(up), 1)
    width = _bar_width(slot)
    most = escape(_count(int(top), language))
    parts = [
        f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{middle:.1f}" y2="{middle:.1f}"/>'
        f'<text class="axis" x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end">{most}</text>'
        f'<text class="axis" x="{LEFT - 6}" y="{HEIGHT - BOTTOM}" text-anchor="end">{most}</text>'
        f'<text class="axis" x="{LEFT - 6}" y="{middle + 4:.1f}" text-anchor="end">0</text>'
    ]
    for index, (above, below) in enumerate(zip(up, down, strict=True)):
        x = LEFT + index * slot + (slot - width) / 2
        for point, name, css in ((above, up_name, "up"), (below, down_name, "down")):
            height = point.value * scale
            y = middle - height if css == "up" else middle
            text = f"{_day(point.day, language)}: {name} {_count(point.value, language)}"
            parts.append(
                f'<rect class="bar bar-{css}" x="{x:.2f}" y="{y:.2f}" width="{width:.2f}"'
                f' height="{height:.2f}" data-day="{point.day.isoformat()}"'
                f' data-value="{point.value}"><title>{escape(text)}</title></rect>'
            )
    body = "".join(parts) + _x_labels([p.day for p in up], slot, False, language, HEIGHT - 6)
    return _svg(label, body, kind=kind)


def plan_chart(plans: Sequence[PlanMovement], *, label: str, language: str) -> SafeString:
    """Per plan, two horizontal bars: subscriptions bought and subscriptions ended."""
    row = 34
    height = max(len(plans), 1) * row + 8
    names_width = 170
    top = _nice_ceiling(max((max(p.new, p.churn) for p in plans), default=0), whole=True)
    scale = (WIDTH - names_width - 60) / top
    parts = []
    for index, plan in enumerate(plans):
        y = 4 + index * row
        name = escape(plan.plan_name)
        parts.append(
            f'<text class="axis name" x="{names_width - 8}" y="{y + 19}" text-anchor="end">'
            f"{name}</text>"
        )
        for offset, value, css, what in (
            (2, plan.new, "new", "new"),
            (16, plan.churn, "churn", "churned"),
        ):
            width = value * scale
            figure = escape(_count(value, language))
            parts.append(
                f'<rect class="bar bar-{css}" x="{names_width}" y="{y + offset}"'
                f' width="{width:.2f}" height="12" data-plan="{name}" data-value="{value}">'
                f"<title>{name}: {figure} {what}</title></rect>"
                f'<text class="axis value" x="{names_width + width + 4:.2f}"'
                f' y="{y + offset + 10}">{figure}</text>'
            )
    return _svg(label, "".join(parts), height=height, kind="plans")
