"""Reads of accounts data."""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from .models import CreditTransaction, PhoneNumber, User
from .phones import normalize_phone


def user_get_by_verified_phone(*, phone: str) -> User | None:
    """The account on which ``phone`` (any notation) is verified, if any."""
    e164 = normalize_phone(phone)
    if e164 is None:
        return None
    row = PhoneNumber.objects.select_related("user").filter(phone=e164, is_verified=True).first()
    return row.user if row else None


def user_get_pending(*, phone: str) -> User | None:
    """The not-yet-verified account registered with ``phone`` (E.164) as its primary phone."""
    return User.objects.filter(
        phone=phone, phones__phone=phone, phones__is_primary=True, phones__is_verified=False
    ).first()


def user_get_waiting(*, phone: str) -> User | None:
    """
    The active account that waits to verify ``phone`` (E.164): its pending registration, or else
    the account that added it last.
    """
    row = (
        PhoneNumber.objects.filter(phone=phone, is_verified=False, user__is_active=True)
        .select_related("user")
        .order_by("-is_primary", "-created_at", "-id")
        .first()
    )
    return row.user if row else None


def phone_claims_lock(*, phone: str) -> list[PhoneNumber]:
    """
    Every account's row for ``phone`` (E.164), locked in id order. Whatever changes who holds a
    number (registration, verification) takes this lock first, so such changes of one number run
    one after the other, and always lock in the same order (no deadlock).
    """
    return list(PhoneNumber.objects.select_for_update().filter(phone=phone).order_by("id"))


def user_get_profile(*, user_id: int) -> User:
    """The account with its phones, for ``auth/me/``."""
    return User.objects.prefetch_related("phones").get(pk=user_id)


def customer_find(*, reference: str) -> User | None:
    """A verified, active customer by id or by any of their verified phones."""
    user = user_get_by_verified_phone(phone=reference)
    if user is None and reference.isdigit() and len(reference) <= 18:
        user = User.objects.filter(
            pk=int(reference), phones__is_primary=True, phones__is_verified=True
        ).first()
    return user if user is not None and user.is_active else None


# Written out: every top-up asks it, and building it through the ORM took ten times what the
# database took to answer (issue 13's comparison with the seed references).
_VERIFIED_PRIMARY_PHONE_SQL = (
    "SELECT 1 FROM accounts_phonenumber WHERE user_id = %s AND is_primary AND is_verified LIMIT 1"
)


def user_has_verified_primary_phone(*, user_id: int) -> bool:
    """Whether the account's primary phone is verified (one indexed lookup)."""
    with connection.cursor() as cursor:
        cursor.execute(_VERIFIED_PRIMARY_PHONE_SQL, [user_id])
        return cursor.fetchone() is not None


_CENT = Decimal("0.01")
_SQLITE_DECIMAL = decimal.Context(prec=15).create_decimal_from_float


def money_from_db(value: object) -> Decimal:
    """A money column as a written-out query returns it, read as Django reads a DecimalField:
    PostgreSQL gives a Decimal; SQLite an int or a float (at most 15 significant digits)."""
    if isinstance(value, Decimal):
        return value
    return _SQLITE_DECIMAL(float(value)).quantize(_CENT)  # type: ignore[arg-type]


def moment_from_db(value: datetime | str) -> datetime:
    """A datetime column as a written-out query returns it, read as Django reads a
    DateTimeField: PostgreSQL gives it aware; SQLite as UTC text."""
    if isinstance(value, str):
        value = parse_datetime(value)  # type: ignore[assignment]
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # type: ignore[union-attr]


# Written out, as the check above: every top-up answers with the balance.
_BALANCE_SQL = "SELECT credit FROM accounts_user WHERE id = %s"


def credit_balance(*, user_id: int) -> Decimal:
    with connection.cursor() as cursor:
        cursor.execute(_BALANCE_SQL, [user_id])
        row = cursor.fetchone()
    if row is None:
        raise User.DoesNotExist("User matching query does not exist.")
    return money_from_db(row[0])


def credit_transaction_list(*, user_id: int) -> QuerySet[CreditTransaction]:
    """The customer's ledger, newest first: in the order money moved, which is the order of the
    ids (each drawn under the customer's lock, see ``accounts.credit``)."""
    return CreditTransaction.objects.filter(user_id=user_id).order_by("-id")
