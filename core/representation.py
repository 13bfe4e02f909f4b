"""
The API's JSON values written directly, as DRF's fields write them with this project's settings:
a datetime in ISO 8601 in the current time zone (``Z`` for UTC, microseconds kept), a date in
ISO 8601, money as a string with two decimals.

For the serializers that write their output by hand (``to_representation``) and the list
endpoints that shape ``.values()`` rows with them (``core.lists``): a DRF field object per value
was most of a list's time. Those serializers' tests check their output equals DRF's own fields'.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal


def json_moment(value: datetime | None, zone: tzinfo) -> str | None:
    """``DateTimeField``'s output; ``zone`` is ``timezone.get_current_timezone()``, read once per
    response rather than once per value."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def json_day(value: datetime, zone: tzinfo) -> str:
    """``DateField``'s output for the day an aware datetime falls on in ``zone``."""
    return value.astimezone(zone).date().isoformat()


def json_money(value: Decimal | None) -> str | None:
    """``DecimalField(max_digits=12, decimal_places=2)``'s output."""
    return None if value is None else f"{value:.2f}"
