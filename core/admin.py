"""
Admin pieces every app shares: the look of list pages (our stylesheet), columns that fit
(money right-aligned and formatted, moments on one line), read-only admins and inlines, and
refusals worded for the operator rather than the customer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.html import format_html

from core.exceptions import (
    AlreadySubscribed,
    ApplicationError,
    InsufficientCredit,
    NotCancellable,
    NotFoundError,
    SamePlan,
    SubscriptionEnded,
)
from core.formatting import format_money
from core.i18n import language_supported

NOTHING = "\u2013"  # an en dash, as the dashboard writes nothing
STYLESHEET = "core/admin.css"


class BusinessMedia:
    css = {"all": [STYLESHEET]}


class BusinessAdmin(admin.ModelAdmin):
    """A model admin with our stylesheet: money right-aligned, numbers and dates unwrapped."""

    Media = BusinessMedia


class ReadOnlyAdmin(BusinessAdmin):
    """Records the operator reads and never edits by hand (history, the scheduler's rows)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown under their parent for reading only: history is never edited by hand."""

    extra = 0
    can_delete = False
    classes = ["history-inline"]  # core/admin.css: no title line above each row

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def admin_language() -> str:
    """The language the admin speaks to this request (``en`` or ``bn``), for figures."""
    return language_supported((translation.get_language() or "").split("-")[0] or None)


def money(value: Decimal | None) -> str:
    """``1,234.50`` (``১,২৩৪.৫০`` when the admin speaks Bengali); a dash for nothing."""
    return NOTHING if value is None else format_money(value, admin_language())


def moment(value: datetime | None) -> str:
    """A time in the server's zone, to the minute, on one line: ``2026-12-03 14:05``."""
    return NOTHING if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def seconds(value: Decimal | float | None) -> str:
    """A run's length, rounded to what matters: ``0.25 s``, ``3.1 s``, ``42 s``, ``2 min 5 s``."""
    if value is None:
        return NOTHING
    value = float(value)
    if value < 1:
        return f"{value:.2f} s"
    if value < 10:
        return f"{value:.1f} s"
    if value < 60:
        return f"{value:.0f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest} s"


def clip(text: str | None) -> str:
    """A long text (an SMS, an error, a URL) on one line, cut with an ellipsis to fit its column;
    the whole text shows on hover and on the object's page."""
    text = text or ""
    return format_html('<span class="clip" title="{}">{}</span>', text, text) if text else ""


def money_column(field: str, description: str) -> Callable[[Any, Any], str]:
    """A list column for a money field: formatted, right-aligned (its name starts ``money_``),
    sortable by the field. Use as ``money_amount = money_column("amount", "amount")``."""

    @admin.display(description=description, ordering=field)
    def column(self: Any, obj: Any) -> str:
        return money(getattr(obj, field))

    column.__name__ = f"money_{field}"
    return column


def moment_column(field: str, description: str) -> Callable[[Any, Any], str]:
    """A list column for a date and time on one line (its name starts ``moment_``), sortable."""

    @admin.display(description=description, ordering=field)
    def column(self: Any, obj: Any) -> str:
        return moment(getattr(obj, field))

    column.__name__ = f"moment_{field}"
    return column


def status_column(
    field: str, description: str, tones: dict[str, tuple[str, str]]
) -> Callable[[Any, Any], str]:
    """A list column showing a status as a coloured word: ``tones`` maps each value to its
    short label and tone (``good``, ``warn``, ``bad``, ``quiet``)."""

    @admin.display(description=description, ordering=field)
    def column(self: Any, obj: Any) -> str:
        value = getattr(obj, field)
        label, tone = tones.get(value, (value, ""))
        return format_html('<span class="status-pill {}">{}</span>', tone, label)

    column.__name__ = f"status_{field}"
    return column


def date_column(field: str, description: str) -> Callable[[Any, Any], str]:
    """A list column for the day of a date and time (``2026-12-03``, in the server's zone)."""

    @admin.display(description=description, ordering=field)
    def column(self: Any, obj: Any) -> str:
        value = getattr(obj, field)
        return NOTHING if value is None else timezone.localtime(value).strftime("%Y-%m-%d")

    column.__name__ = f"moment_{field}"
    return column


def customer_column(path: str = "user", description: str = "customer") -> Callable[[Any, Any], str]:
    """A list column with the customer's name (their phone is on their page and searchable);
    the list selects ``path`` with its rows."""

    @admin.display(description=description, ordering=f"{path}__name")
    def column(self: Any, obj: Any) -> str:
        return getattr(obj, path).name

    column.__name__ = f"customer_{path}"
    return column


def operator_message(refusal: ApplicationError, *, subject: str) -> str:
    """
    A service's refusal as an operator reads it. The services speak to the customer ("Please
    top up", "You have no subscription…"); an operator acting for them needs what stopped the
    action and what to do, about ``subject`` (e.g. the subscription's title).
    """
    if isinstance(refusal, InsufficientCredit):
        return (
            f"{subject}: not resumed — the customer's credit ({money(refusal.balance)}) doesn't"
            f" cover the period's {money(refusal.needed)}. Add credit to their account first."
        )
    if isinstance(refusal, SubscriptionEnded):
        return f"{subject}: already over; nothing can change it any more."
    if isinstance(refusal, NotCancellable):
        return f"{subject}: its plan can't be cancelled; pause it instead, or let it expire."
    if isinstance(refusal, SamePlan):
        return f"{subject}: already on this plan."
    if isinstance(refusal, AlreadySubscribed):
        return f"{subject}: the customer already has a live subscription to this plan."
    if isinstance(refusal, NotFoundError):
        return f"{subject}: not found any more (changed by someone else meanwhile?)."
    return f"{subject}: {refusal.message}"
