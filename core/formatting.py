"""
Numbers, money and dates as a customer reads them in their language (Babel's CLDR data).

English: ``1,234.50`` and ``23 Dec 2026``. Bengali: the Indian grouping and Bengali digits,
``১,২৩৪.৫০`` and ``২৩ ডিসে, ২০২৬``. Money is the amount with two decimals and no currency sign:
the service has one currency, and an SMS is short.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from django.utils import timezone

# Babel applies a locale's separators but writes Latin digits; Bengali readers expect their own.
_DIGITS = {"bn": str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")}


def _digits(text: str, language: str) -> str:
    table = _DIGITS.get(language)
    return text.translate(table) if table else text


@lru_cache(maxsize=8)
def _money_pattern(language: str) -> str:
    # The locale's own grouping ("#,##,##0.###" in Bengali), always with two decimals.
    pattern = Locale.parse(language).decimal_formats[None].pattern
    return pattern.split(".", 1)[0].split(";", 1)[0] + ".00"


def format_number(value: int | Decimal, language: str) -> str:
    """A count or quantity: ``1,234`` / ``১,২৩৪``."""
    return _digits(babel_numbers.format_decimal(value, locale=language), language)


def format_money(amount: Decimal, language: str) -> str:
    """An amount with two decimals, grouped for the language: ``1,234.50`` / ``১,২৩৪.৫০``."""
    text = babel_numbers.format_decimal(
        Decimal(amount), format=_money_pattern(language), locale=language
    )
    return _digits(text, language)


def format_date(value: date | datetime, language: str) -> str:
    """
    A day as the customer reads it: ``23 Dec 2026`` / ``২৩ ডিসে, ২০২৬``. An aware datetime is
    read in the server's time zone (``TIME_ZONE``) first, so the day is the local one.
    """
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    pattern = "d MMM y" if language == "en" else "medium"
    return _digits(babel_dates.format_date(value, format=pattern, locale=language), language)
