"""
The words of each notice, in the customer's language: short (one or two SMS segments), and each
says the plan, the amount or date, and what to do.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel import dates as babel_dates
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.formatting import format_money

# Babel writes Latin digits; Bengali readers expect their own.
_DIGITS = {"bn": str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")}


def money(amount: Decimal, language: str) -> str:
    """``1,300.00``, grouped and with the digits of the language."""
    return format_money(amount, language)


def day(value: date | datetime, language: str) -> str:
    """``23 Dec`` / ``২৩ ডিসে``, the local day (``TIME_ZONE``) of an aware datetime."""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    text = babel_dates.format_date(value, format="d MMM", locale=language)
    return text.translate(_DIGITS.get(language, {}))


def reminder(*, language: str, plan: str, amount: Decimal, at: datetime) -> str:
    with translation.override(language):
        return _("Top up %(amount)s to keep %(plan)s after %(date)s.") % {
            "amount": money(amount, language),
            "plan": plan,
            "date": day(at, language),
        }


def suspended(*, language: str, plan: str, amount: Decimal) -> str:
    with translation.override(language):
        return _("%(plan)s is suspended: your credit is short. Top up %(amount)s to resume it.") % {
            "plan": plan,
            "amount": money(amount, language),
        }


def past_due(*, language: str, plan: str, amount: Decimal, until: datetime) -> str:
    with translation.override(language):
        return _("%(plan)s is unpaid. Top up %(amount)s by %(date)s to keep it.") % {
            "plan": plan,
            "amount": money(amount, language),
            "date": day(until, language),
        }


def resumed(*, language: str, plan: str, until: datetime) -> str:
    with translation.override(language):
        return _("%(plan)s is active again, paid until %(date)s.") % {
            "plan": plan,
            "date": day(until, language),
        }


def last_period(*, language: str, plan: str, ends: datetime) -> str:
    with translation.override(language):
        return _("The last period of %(plan)s has started: it ends on %(date)s.") % {
            "plan": plan,
            "date": day(ends, language),
        }


def cancelled(*, language: str, plan: str, at: datetime) -> str:
    with translation.override(language):
        return _("%(plan)s is cancelled as of %(date)s. You will not be charged for it again.") % {
            "plan": plan,
            "date": day(at, language),
        }


def receipt(*, language: str, amount: Decimal, balance: Decimal) -> str:
    with translation.override(language):
        return _("Top-up of %(amount)s received. Your balance is %(balance)s.") % {
            "amount": money(amount, language),
            "balance": money(balance, language),
        }
