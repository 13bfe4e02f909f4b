"""Money, counts, moments and durations as the dashboard writes them (core.formatting)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django import template
from django.conf import settings
from django.utils import timezone, translation

from core.formatting import format_money, format_number

register = template.Library()

NOTHING = "\u2013"  # an en dash


def admin_language() -> str:
    """The language the admin speaks to this request (``en`` or ``bn``), for figures."""
    language = (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]
    return language if language in dict(settings.LANGUAGES) else "en"


@register.filter
def money(value: Decimal | None) -> str:
    """``1,234.50`` (``১,২৩৪.৫০`` in Bengali); a dash for nothing."""
    return NOTHING if value is None else format_money(value, admin_language())


@register.filter
def number(value: int | None) -> str:
    return NOTHING if value is None else format_number(value, admin_language())


@register.filter
def moment(value: datetime | None) -> str:
    """A time in the server's zone, to the minute: ``2026-12-03 14:05``."""
    return NOTHING if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


@register.filter
def duration(value: timedelta | None) -> str:
    """A lag or a run's length, rounded to what matters: ``3 d 4 h``, ``5 min 2 s``, ``0.4 s``."""
    if value is None:
        return NOTHING
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds_left = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds_left} s"
    return f"{seconds_left} s"


@register.filter
def lookup(mapping: dict, key: object) -> object:
    return mapping.get(key)
