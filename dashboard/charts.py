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
from math import log10

from babel import dates as babel_dates
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from core.formatting import format_date, format_money, format_number

from .selectors import PlanMovement, Point

WIDTH = 640
HEIGHT = 200
LEFT = 72  # room for the y axis' labels
RIGHT = 8
TOP = 10
BOTTOM = 24  # room for the x axis' labels


def _nice_ceiling(value: float) -> float:
    """The axis' top: 1, 2, 2.5 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** int(log10(value) // 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _number(value: Decimal | int, money: bool, language: str) -> str:
    return format_money(Decimal(value), language) if money else format_number(value, language)


def _day_label(day: date, monthly: bool, language: str) -> str:
    pattern = "MMM y" if monthly else "d MMM"
    return babel_dates.format_date(day, format=pattern, locale=language)


def _html(template: str, *args: object) -> SafeString:
    """``format_html`` with coordinates written to two decimals."""
    return format_html(template, *(f"{arg:.2f}" if isinstance(arg, float) else arg for arg in args))


def _svg(label: str, body: SafeString, *, height: int = HEIGHT, kind: str) -> SafeString:
    return _html(
        '<svg class="chart chart-{}" viewBox="0 0 {} {}" role="img" aria-label="{}"'
        ' preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        "<title>{}</title>{}</svg>",
        kind,
        WIDTH,
        height,
        label,
        label,
        body,
    )


def _y_axis(top: float, money: bool, language: str, *, baseline: float, scale: float) -> str:
    parts = []
    for fraction in (0, 0.5, 1):
        y = baseline - fraction * top * scale
        parts.append(
            _html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                y,
                y,
                LEFT - 6,
                y + 4,
                _number(
                    Decimal(str(top * fraction)) if money else int(top * fraction), money, language
                ),
            )
        )
    return "".join(parts)


def _x_labels(days: Sequence[date], slot: float, monthly: bool, language: str, y: float) -> str:
    count = len(days)
    if monthly or count <= 7:
        picked = range(count)
    else:
        picked = sorted({0, count // 4, count // 2, 3 * count // 4, count - 1})
    return "".join(
        _html(
            '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
            LEFT + (index + 0.5) * slot,
            y,
            _day_label(days[index], monthly, language),
        )
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
    top = _nice_ceiling(float(max((point.value for point in points), default=0)))
    scale = (baseline - TOP) / top
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    gap = min(2.0, slot * 0.2)
    bars = []
    for index, point in enumerate(points):
        height = float(point.value) * scale
        when = (
            babel_dates.format_date(point.day, format="MMMM y", locale=language)
            if monthly
            else format_date(point.day, language)
        )
        text = f"{when}: {_number(point.value, money, language)}"
        if describe is not None:
            text += f" ({describe(point)})"
        bars.append(
            _html(
                '<rect class="bar" x="{}" y="{}" width="{}" height="{}"'
                ' data-day="{}" data-value="{}" data-count="{}"><title>{}</title></rect>',
                LEFT + index * slot + gap / 2,
                baseline - height,
                max(slot - gap, 0.5),
                height,
                point.day.isoformat(),
                point.value,
                point.count,
                text,
            )
        )
    body = mark_safe(  # noqa: S308 (every part is format_html's)
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
    top = _nice_ceiling(max((max(values, default=0) for values in series.values()), default=0))
    scale = (baseline - TOP) / top
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)

    def x(index: int) -> float:
        return LEFT + (index + 0.5) * slot

    lines = []
    for key, values in series.items():
        coordinates = " ".join(
            f"{x(index):.1f},{baseline - value * scale:.1f}" for index, value in enumerate(values)
        )
        lines.append(
            _html(
                '<polyline class="line line-{}" points="{}" data-series="{}" data-values="{}">'
                "<title>{}</title></polyline>",
                key,
                coordinates,
                key,
                ",".join(str(value) for value in values),
                names[key],
            )
        )
    hovers = "".join(
        _html(
            '<rect class="hover" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            LEFT + index * slot,
            TOP,
            slot,
            baseline - TOP,
            format_date(day, language)
            + ": "
            + ", ".join(
                f"{names[key]} {format_number(values[index], language)}"
                for key, values in series.items()
            ),
        )
        for index, day in enumerate(days)
    )
    body = mark_safe(  # noqa: S308 (every part is format_html's)
        _y_axis(top, False, language, baseline=baseline, scale=scale)
        + "".join(lines)
        + hovers
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
    top = _nice_ceiling(max((p.value for p in (*up, *down)), default=0))
    scale = (middle - TOP) / top
    slot = (WIDTH - LEFT - RIGHT) / max(len(up), 1)
    gap = min(2.0, slot * 0.2)
    parts = [
        _html(
            '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>'
            '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>'
            '<text class="axis" x="{}" y="{}" text-anchor="end">0</text>',
            LEFT,
            WIDTH - RIGHT,
            middle,
            middle,
            LEFT - 6,
            TOP + 8,
            format_number(int(top), language),
            LEFT - 6,
            HEIGHT - BOTTOM,
            format_number(int(top), language),
            LEFT - 6,
            middle + 4,
        )
    ]
    for index, (above, below) in enumerate(zip(up, down, strict=True)):
        x = LEFT + index * slot + gap / 2
        width = max(slot - gap, 0.5)
        for point, name, css, y_of in (
            (above, up_name, "up", lambda h: middle - h),
            (below, down_name, "down", lambda h: middle),
        ):
            height = point.value * scale
            parts.append(
                _html(
                    '<rect class="bar bar-{}" x="{}" y="{}" width="{}"'
                    ' height="{}" data-day="{}" data-value="{}"><title>{}</title></rect>',
                    css,
                    x,
                    y_of(height),
                    width,
                    height,
                    point.day.isoformat(),
                    point.value,
                    f"{format_date(point.day, language)}: {name} "
                    f"{format_number(point.value, language)}",
                )
            )
    body = mark_safe(  # noqa: S308 (every part is format_html's)
        "".join(parts) + _x_labels([p.day for p in up], slot, False, language, HEIGHT - 6)
    )
    return _svg(label, body, kind=kind)


def plan_chart(plans: Sequence[PlanMovement], *, label: str, language: str) -> SafeString:
    """Per plan, two horizontal bars: subscriptions bought and subscriptions ended."""
    row = 34
    height = max(len(plans), 1) * row + 8
    names_width = 170
    top = _nice_ceiling(max((max(p.new, p.churn) for p in plans), default=0))
    scale = (WIDTH - names_width - 60) / top
    parts = []
    for index, plan in enumerate(plans):
        y = 4 + index * row
        parts.append(
            _html(
                '<text class="axis name" x="{}" y="{}" text-anchor="end">{}</text>',
                names_width - 8,
                y + 19,
                plan.plan_name,
            )
        )
        for offset, value, css, name in (
            (2, plan.new, "new", "new"),
            (16, plan.churn, "churn", "churned"),
        ):
            width = value * scale
            parts.append(
                _html(
                    '<rect class="bar bar-{}" x="{}" y="{}" width="{}" height="12"'
                    ' data-plan="{}" data-value="{}"><title>{}: {} {}</title></rect>'
                    '<text class="axis value" x="{}" y="{}">{}</text>',
                    css,
                    names_width,
                    y + offset,
                    width,
                    plan.plan_name,
                    value,
                    plan.plan_name,
                    format_number(value, language),
                    name,
                    names_width + width + 4,
                    y + offset + 10,
                    format_number(value, language),
                )
            )
    body = mark_safe("".join(parts))  # noqa: S308 (every part is format_html's)
    return _svg(label, body, height=height, kind="plans")
