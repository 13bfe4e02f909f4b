"""
The one place that moves credit. Every change of balance locks the customer's row, checks
the new balance (never below zero, never above ``MAX_BALANCE``), updates it and writes its
ledger line in the same transaction; the database's check constraints back this up.

The ledger's order is the order money moved: a line's id is drawn while the customer's row is
locked, so ids follow the order of the moves, and a line is never dated before the customer's
previous line (a caller may have read its clock before it waited for the lock).

A top-up and an adjustment record their event (``credit.topped_up``, ``credit.adjusted``) with
the ledger line, in its transaction; an invoice's payment is told by the billing engine's
``invoice.paid``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from core.exceptions import (
    ApplicationError,
    BalanceLimitExceeded,
    InsufficientCredit,
    InvalidInput,
)
from events.services import EventType, event_record

from .models import MAX_BALANCE, CreditTransaction, User
from .selectors import moment_from_db, money_from_db
from .serializers import CreditTransactionSerializer
from .signals import credit_added

logger = logging.getLogger(__name__)
Kind = CreditTransaction.Kind

# Written out: one conditional UPDATE both locks the customer's row (as FOR NO KEY UPDATE would)
# and moves the balance when the new one stays within [0, MAX_BALANCE]; RETURNING gives the new
# balance. Through the ORM this took a locking read and an update, each built for every move.
# On PostgreSQL an update that waited for the lock checks the condition again on the row as
# the other transaction left it. SQLite adds decimals as floats: ROUND(.., 2) gives the value
# a Decimal written as text would be stored as.
_BALANCE_ADD_SQL = (
    "UPDATE accounts_user SET credit = {new} WHERE id = %s AND {new} >= 0 AND {new} <= {max} "
    "RETURNING credit"
)
_BALANCE_ADD = {
    "sqlite": _BALANCE_ADD_SQL.format(new="ROUND(credit + %s, 2)", max=MAX_BALANCE),
    "postgresql": _BALANCE_ADD_SQL.format(new="credit + %s", max=MAX_BALANCE),
}
# Read after the balance's update, in a statement of its own: one that took the lock itself would
# see the ledger as it was before it waited. The last line by id is the latest.
_LAST_LINE_AT_SQL = (
    "SELECT created_at FROM accounts_credittransaction WHERE user_id = %s ORDER BY id DESC LIMIT 1"
)


def _balance_add(*, user_id: int, amount: Decimal) -> Decimal | None:
    """The customer's new balance after adding ``amount``, or None (nothing changed) when it
    would leave [0, MAX_BALANCE] or the customer does not exist."""
    with connection.cursor() as cursor:
        cursor.execute(_BALANCE_ADD[connection.vendor], [amount, user_id, amount, amount])
        row = cursor.fetchone()
    return None if row is None else money_from_db(row[0])


def _last_line_at(user_id: int) -> datetime | None:
    with connection.cursor() as cursor:
        cursor.execute(_LAST_LINE_AT_SQL, [user_id])
        row = cursor.fetchone()
    return None if row is None else moment_from_db(row[0])


def _move(
    *,
    user_id: int,
    amount: Decimal,
    kind: str,
    invoice_id: int | None = None,
    note: str = "",
    by: User | None = None,
    now: datetime | None = None,
    event: str | None = None,
) -> CreditTransaction:
    """Move the money and write its ledger line (and its ``event``, if any) under the lock."""
    if amount == 0:
        raise InvalidInput("The amount must not be zero.")
    # No savepoint (two round trips per payment in a billing run): a refusal is decided before
    # anything is written and raised after the block, so the caller's transaction stays usable.
    refusal: ApplicationError | None = None
    with transaction.atomic(savepoint=False):
        new_balance = _balance_add(user_id=user_id, amount=amount)
        if new_balance is None:
            # Refused, or the customer is missing (DoesNotExist, as before). Read under the lock
            # to say why; a move that committed since the update looked may allow it now.
            # no_key: the lock guards the balance; rows that only refer to the customer may be
            # inserted meanwhile.
            balance = (
                User.objects.select_for_update(no_key=True)
                .values_list("credit", flat=True)
                .get(pk=user_id)
            )
            new_balance = balance + amount
            if new_balance < 0:
                refusal = InsufficientCredit(needed=-amount, balance=balance)
            elif new_balance > MAX_BALANCE:
                refusal = BalanceLimitExceeded(limit=MAX_BALANCE)
            else:
                User.objects.filter(pk=user_id).update(credit=new_balance)
        if refusal is None:
            created_at = now or timezone.now()
            previous = _last_line_at(user_id)
            if previous is not None and previous > created_at:
                created_at = previous
            entry = CreditTransaction.objects.create(
                user_id=user_id,
                amount=amount,
                kind=kind,
                balance_after=new_balance,
                invoice_id=invoice_id,
                note=note,
                created_by=by,
                created_at=created_at,
            )
            if event is not None:
                event_record(
                    type=event,
                    customer_id=user_id,
                    data=CreditTransactionSerializer.entry_representation(
                        entry, timezone.get_current_timezone()
                    ),
                    occurred_at=created_at,
                )
    if refusal is not None:
        raise refusal
    return entry


def _announce(entry: CreditTransaction) -> None:
    # After the money is saved; a failing listener must not undo a top-up.
    for receiver, result in credit_added.send_robust(
        sender=CreditTransaction, user_id=entry.user_id, transaction=entry, now=entry.created_at
    ):
        if isinstance(result, Exception):
            logger.error(
                "credit_added listener %r failed for user %s",
                receiver,
                entry.user_id,
                exc_info=result,
            )


def credit_top_up(
    *,
    user_id: int,
    amount: Decimal,
    by: User | None = None,
    note: str = "",
    now: datetime | None = None,
) -> CreditTransaction:
    """Add ``amount`` (> 0) to the customer's credit, then announce ``credit_added``."""
    if amount <= 0:
        raise InvalidInput("A top-up must be positive.")
    entry = _move(
        event=EventType.CREDIT_TOPPED_UP,
        user_id=user_id,
        amount=amount,
        kind=Kind.TOP_UP,
        by=by,
        note=note,
        now=now,
    )
    _announce(entry)
    return entry


def credit_adjust(
    *, user_id: int, amount: Decimal, by: User | None, note: str, now: datetime | None = None
) -> CreditTransaction:
    """A staff correction, either sign; the balance still can't go below zero."""
    entry = _move(
        event=EventType.CREDIT_ADJUSTED,
        user_id=user_id,
        amount=amount,
        kind=Kind.ADJUSTMENT,
        by=by,
        note=note,
        now=now,
    )
    if amount > 0:
        _announce(entry)
    return entry


def credit_pay_invoice(
    *, user_id: int, amount: Decimal, invoice_id: int, now: datetime | None = None
) -> CreditTransaction:
    """Debit ``amount`` (> 0) for an invoice, or raise ``InsufficientCredit`` (402)."""
    if amount <= 0:
        raise InvalidInput("A payment must be positive.")
    return _move(
        user_id=user_id, amount=-amount, kind=Kind.INVOICE_PAYMENT, invoice_id=invoice_id, now=now
    )


def credit_prorate(
    *, user_id: int, amount: Decimal, note: str, now: datetime | None = None
) -> CreditTransaction:
    """Give back ``amount`` (> 0), the unused part of a paid period when a plan changes at once.
    Its event is ``credit.prorated``, recorded with it."""
    if amount <= 0:
        raise InvalidInput("A proration credit must be positive.")
    return _move(
        event=EventType.CREDIT_PRORATED,
        user_id=user_id,
        amount=amount,
        kind=Kind.PRORATION_CREDIT,
        note=note,
        now=now,
    )
