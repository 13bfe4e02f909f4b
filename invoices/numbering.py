"""
Invoice numbers: ``INV-2026-000001``, ``INV-2026-000002``, … gapless and in issue order within
each calendar year of the invoice's ``issued_at`` (in ``TIME_ZONE``), whatever rolls back or
runs at the same time. A void invoice keeps its number.

Each year has one counter row (:class:`~invoices.models.InvoiceNumberSequence`). Taking
numbers adds to it in the caller's transaction, which keeps the row locked until it commits:
a transaction that rolls back (a refused purchase) gives its numbers back to the next one, and
no two transactions get the same number.

The cost: the current year's row is one hot row. Every transaction that issues an invoice waits
at it for the previous one to commit, so invoice-issuing commits are serialized. The billing
engine keeps the wait short by taking the number last, just before it inserts the invoice, after
its other locks (customer, then subscriptions, then invoices, then this counter): what is left
to wait for is the rest of that transaction (paying the invoice, its events, the commit). A
transaction that numbers invoices of two years takes the earlier year first (the engine issues
in time order), so two such transactions never wait for each other in a circle.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from django.db import connection
from django.utils import timezone

# One statement, safe under concurrency on PostgreSQL and SQLite: the year's row is created by
# the first transaction to need it, or else incremented (PostgreSQL waits for a transaction that
# holds the row, or is inserting it, then adds to the committed value). No savepoint needed.
_TAKE = (
    'INSERT INTO invoices_invoicenumbersequence ("year", "last") VALUES (%s, %s) '
    'ON CONFLICT ("year") DO UPDATE SET "last" = invoices_invoicenumbersequence."last" + '
    'excluded."last" RETURNING "last"'
)


class InvoiceNumber(NamedTuple):
    year: int
    seq: int

    def __str__(self) -> str:
        return f"INV-{self.year}-{self.seq:06d}"


def invoice_number_year(issued_at: datetime) -> int:
    """The numbering year of an invoice issued at ``issued_at``: its calendar year in
    ``TIME_ZONE`` (not in the time zone a request may have activated)."""
    return timezone.localtime(issued_at, timezone.get_default_timezone()).year


def invoice_numbers_take(*, year: int, count: int = 1) -> int:
    """
    Take the next ``count`` numbers of ``year``, consecutive, and return the first. Call it in
    the transaction that stores the invoices, right before inserting them: the year's counter
    stays locked until that transaction ends, and a rollback gives the numbers back.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    if not connection.in_atomic_block:
        # In autocommit the numbers would be taken for good before the invoices exist.
        raise RuntimeError("Take invoice numbers inside the transaction that issues the invoices.")
    with connection.cursor() as cursor:
        cursor.execute(_TAKE, [year, count])
        (last,) = cursor.fetchone()
    return last - count + 1


def invoice_number_take(*, issued_at: datetime) -> InvoiceNumber:
    """The number of an invoice issued at ``issued_at`` (see :func:`invoice_numbers_take`)."""
    year = invoice_number_year(issued_at)
    return InvoiceNumber(year, invoice_numbers_take(year=year))
