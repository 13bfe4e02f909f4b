"""
The billing engine: every change to a subscription's life and every invoice goes through here.

Each public function takes an explicit ``now`` (``timezone.now()`` when omitted), runs in one
transaction and locks rows in a fixed order: the customer, then their subscriptions, then
invoices. Holding the customer's lock, :func:`_customer_catch_up` first processes every
period boundary the customer's subscriptions have passed, in time order, so each function
sees the subscriptions as they should be at ``now``; that is also how :func:`bill_due`
catches up after downtime. A period is billed at most once: the subscription row is locked and
re-read, and ``(subscription, period_index)`` is unique in the database.

Time is read under the lock: when ``now`` is omitted, it is taken once the customer's row is
locked, so what a customer's money and invoices record follows the order it happened in.

Every change records its events (``events``) in the same transaction, through the customer's
:class:`_Outbox`: one read and one insert per customer's transaction, however many periods it
billed. That is also how the scheduler learns what changed: the engine never calls it.

:func:`bill_due` bills many customers per transaction: keyset pages of ``BATCH_SIZE`` customers,
each page locked at once (``SKIP LOCKED``: what another transaction holds is billed afterwards,
waiting), run through the same rules (:func:`boundaries_process`) with books held in memory
(:class:`_BatchBooks`), then written with a bounded number of statements (:class:`_Page`). The
single-customer paths (purchase, settle, reactivate, the scheduler's job) use the same rules
with books that write as they go (:class:`_Ledger`); a differential test keeps the two equal.
On PostgreSQL the pages are billed by ``BILLING_WORKERS`` threads (:func:`_bill_pages_in_threads`),
so that one renders a page while PostgreSQL writes another's.

One customer's failure never stops the others: the single-customer runs
(:func:`subscription_bill`, :func:`subscriptions_settle`) bill each customer in a transaction of
their own, roll a failure back, log it and record it (``BillingFailure``, shown in the admin and
by the health check), and go on; the customer is retried by the next run. In a batch, a customer
whose rules raise is left out of the page's writes and billed alone that way; a page whose
writes fail is rolled back and its customers billed one at a time.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Lookup, OuterRef, Q, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts.credit import credit_pay_invoice, credit_prorate
from accounts.models import CreditTransaction, User
from core.db import violates
from core.exceptions import (
    AlreadySubscribed,
    ApplicationError,
    InsufficientCredit,
    NotFoundError,
    SamePlan,
    SubscriptionEnded,
)
from core.rows import ids_take, rows_insert, rows_update
from events.services import EventDraft, EventType, event_record_batch, event_record_many
from plans.models import Plan
from subscriptions.errors import SubscriptionNotCancellable
from subscriptions.models import PlanChange, Subscription
from subscriptions.serializers import SubscriptionSerializer

from .models import BillingFailure, Invoice
from .numbering import (
    InvoiceNumber,
    invoice_number_take,
    invoice_number_year,
    invoice_numbers_take,
)
from .serializers import InvoiceSerializer

logger = logging.getLogger(__name__)
Status = Subscription.Status
LIVE = Subscription.LIVE_STATUSES
UNPAID = (Status.SUSPENDED, Status.PAST_DUE)  # what credit arriving settles


@dataclass
class BillingReport:
    """What a billing run did, for logs and the ``bill`` command."""

    customers: int = 0
    invoices_paid: int = 0
    invoices_unpaid: int = 0
    invoices_voided: int = 0
    suspended: int = 0
    resumed: int = 0
    expired: int = 0
    failed: int = 0

    def add(self, other: BillingReport) -> None:
        for name in _REPORT_COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __str__(self) -> str:
        return ", ".join(
            f"{field.name.replace('_', ' ')}: {getattr(self, field.name)}" for field in fields(self)
        )


_REPORT_COUNTS = tuple(field.name for field in fields(BillingReport))

# One instance each, reused: building a serializer per event cost more than rendering it (about
# 0.5 ms, measured), and to_representation keeps no state.
_SUBSCRIPTION_DATA = SubscriptionSerializer()
_INVOICE_DATA = InvoiceSerializer()
_INVOICE_STATUS = _INVOICE_DATA.fields["status"]
_INVOICE_PAID_AT = _INVOICE_DATA.fields["paid_at"]


class _Outbox:
    """
    The events of one customer's transaction, in the order things happened; recorded together
    (one read for the sequence, one insert) by :func:`_customer_events` before the commit.
    ``data`` is rendered when the event is added: the object as it was at that moment.
    """

    def __init__(self, user_id: int, page: dict[int, list[EventDraft]] | None = None) -> None:
        self.user_id = user_id
        self.drafts: list[EventDraft] = []
        # A batch run's: recording hands the drafts to the page, which records every
        # customer's events together (event_record_batch) once they are all billed.
        self.page = page

    def subscription(self, type: str, subscription: Subscription, *, at: datetime) -> None:
        data = dict(_SUBSCRIPTION_DATA.to_representation(subscription))
        self.drafts.append(EventDraft(type=type, data=data, occurred_at=at))

    def invoice(self, type: str, invoice: Invoice, *, at: datetime) -> None:
        data = dict(_INVOICE_DATA.to_representation(invoice))
        self.drafts.append(EventDraft(type=type, data=data, occurred_at=at))

    def record(self) -> None:
        if self.page is not None:
            self.page.setdefault(self.user_id, []).extend(self.drafts)
        else:
            event_record_many(customer_id=self.user_id, drafts=self.drafts)
        self.drafts = []


@contextmanager
def _customer_events(user_id: int) -> Iterator[_Outbox]:
    """An outbox for the customer's changes, recorded when the block ends without an error
    (inside the caller's transaction, which holds the customer's lock)."""
    outbox = _Outbox(user_id)
    yield outbox
    outbox.record()


# --- Internals: the caller holds the customer's lock -------------------------------------------


class SubscriptionBillingError(Exception):
    """Billing this subscription raised (the cause is chained): says which one, for operators."""

    def __init__(self, subscription_id: int) -> None:
        super().__init__(f"Billing subscription {subscription_id} failed")
        self.subscription_id = subscription_id


@contextmanager
def _blame(subscription: Subscription) -> Iterator[None]:
    """Name the subscription in any unexpected error raised while processing it."""
    try:
        yield
    except (ApplicationError, SubscriptionBillingError):
        raise
    except Exception as exc:
        raise SubscriptionBillingError(subscription.pk) from exc


def _lock_customer(user_id: int, *, skip_locked: bool = False) -> bool:
    """Lock the customer's row; with ``skip_locked``, False instead of waiting if it is taken.

    ``no_key``: the lock guards the row's own columns (the balance); rows that merely refer to
    the customer (invoices, ledger lines, idempotency keys) may still be inserted meanwhile.
    """
    # Written out: every purchase and settlement takes it, and the ORM spent ten times what the
    # database takes to answer (issue 13).
    table = connection.ops.quote_name(User._meta.db_table)
    lock = ""
    if connection.features.has_select_for_update:
        lock = " " + connection.ops.for_update_sql(no_key=True, skip_locked=skip_locked)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE id = %s{lock}", [user_id])  # noqa: S608 (names)
        return cursor.fetchone() is not None


def _own_subscription(*, user_id: int, subscription_id: int) -> Subscription:
    subscription = (
        Subscription.objects.select_for_update().filter(pk=subscription_id, user_id=user_id).first()
    )
    if subscription is None:
        raise NotFoundError(gettext("You have no subscription with this id."))
    return subscription


def _live_subscription(
    user_id: int, subscription_id: int, now: datetime | None, outbox: _Outbox
) -> tuple[Subscription, datetime]:
    """Lock the customer, catch their subscriptions up, then lock and return a live one of them,
    with the time (read under the lock when not given)."""
    _lock_customer(user_id)
    now = now or timezone.now()
    _customer_catch_up(user_id, now, BillingReport(), outbox)
    subscription = _own_subscription(user_id=user_id, subscription_id=subscription_id)
    if not subscription.is_live:
        raise SubscriptionEnded(status=subscription.status)
    return subscription, now


def _invoice_issue(
    subscription: Subscription,
    index: int,
    outbox: _Outbox,
    *,
    at: datetime,
    plan_change: PlanChange | None = None,
) -> Invoice:
    issued_at = subscription.period_start(index)
    # The last lock of the transaction (after customer, subscriptions, invoices), held to the
    # commit: the year's number counter, taken right before the insert (invoices.numbering).
    number = invoice_number_take(issued_at=issued_at)
    invoice = Invoice.objects.create(
        subscription=subscription,
        user_id=subscription.user_id,
        period_index=index,
        period_start=subscription.period_start(index),
        period_end=subscription.period_end(index),
        plan_id=subscription.plan_id,
        plan_name=subscription.plan_name,
        amount=subscription.plan_amount,
        plan_change=plan_change,
        status=Invoice.Status.UNPAID,
        issued_at=issued_at,
        number=str(number),
        number_year=number.year,
        number_seq=number.seq,
    )
    outbox.invoice(EventType.INVOICE_CREATED, invoice, at=at)
    return invoice


_INVOICE_PAID_SQL = (
    "UPDATE invoices_invoice SET status = %s, paid_at = %s, payment_id = %s WHERE id = %s"
)


def _invoice_pay(invoice: Invoice, now: datetime, outbox: _Outbox, *, at: datetime) -> None:
    """Debit the invoice from credit, or raise ``InsufficientCredit`` and leave it unpaid.
    ``at``: when it happened in business time (a late catch-up's period start)."""
    entry = credit_pay_invoice(
        user_id=invoice.user_id, amount=invoice.amount, invoice_id=invoice.pk, now=now
    )
    invoice.status = Invoice.Status.PAID
    invoice.paid_at = entry.created_at  # the ledger's time, never before its previous line
    invoice.payment = entry
    # Written out: what save(update_fields=[status, paid_at, payment]) sends, without building it.
    with connection.cursor() as cursor:
        cursor.execute(
            _INVOICE_PAID_SQL,
            [
                invoice.status.value,
                connection.ops.adapt_datetimefield_value(invoice.paid_at),
                entry.pk,
                invoice.pk,
            ],
        )
    outbox.invoice(EventType.INVOICE_PAID, invoice, at=at)


def _invoice_try_pay(invoice: Invoice, now: datetime, outbox: _Outbox, *, at: datetime) -> bool:
    try:
        _invoice_pay(invoice, now, outbox, at=at)
    except InsufficientCredit:
        return False
    return True


def _void_unpaid(
    subscription: Subscription,
    now: datetime,
    outbox: _Outbox,
    *,
    at: datetime,
    before_index: int | None = None,
) -> int:
    """Void the subscription's unpaid invoices (of periods before ``before_index``): an event
    for each, so the rows are read before they are updated."""
    unpaid = Invoice.objects.filter(subscription=subscription, status=Invoice.Status.UNPAID)
    if before_index is not None:
        unpaid = unpaid.filter(period_index__lt=before_index)
    voided = list(unpaid.order_by("period_index"))
    if not voided:
        return 0
    Invoice.objects.filter(pk__in=[invoice.pk for invoice in voided]).update(
        status=Invoice.Status.VOID, voided_at=now
    )
    for invoice in voided:
        invoice.status, invoice.voided_at = Invoice.Status.VOID, now
        outbox.invoice(EventType.INVOICE_VOIDED, invoice, at=at)
    return len(voided)


class _Ledger:
    """What a boundary does to the books, for real: invoices issued and paid from credit,
    unpaid ones voided, events recorded. :mod:`invoices.forecast` replays the same rules
    (:func:`boundaries_process`) with books that only count."""

    def __init__(self, outbox: _Outbox, now: datetime) -> None:
        self.outbox = outbox
        self.now = now

    def charge(self, subscription: Subscription, index: int, *, at: datetime) -> bool:
        """Issue the period's invoice and pay it from credit; False if the credit is short."""
        invoice = _invoice_issue(subscription, index, self.outbox, at=at)
        return _invoice_try_pay(invoice, self.now, self.outbox, at=at)

    def void_unpaid(self, subscription: Subscription, *, at: datetime) -> int:
        return _void_unpaid(subscription, self.now, self.outbox, at=at)

    def subscription_event(self, type: str, subscription: Subscription, *, at: datetime) -> None:
        self.outbox.subscription(type, subscription, at=at)

    def plan_change_scheduled(self, subscription: Subscription) -> PlanChange:
        return PlanChange.objects.select_for_update().get(
            subscription=subscription, status=PlanChange.Status.SCHEDULED
        )

    def plan_change_applied(
        self, change: PlanChange, subscription: Subscription, *, at: datetime
    ) -> None:
        change.status = PlanChange.Status.APPLIED
        change.save(update_fields=["status", "first_period_index", "effective_at"])
        self.outbox.subscription(EventType.SUBSCRIPTION_PLAN_CHANGED, subscription, at=at)


class Books(Protocol):
    """The effects of the billing rules: :class:`_Ledger` for real, or a dry run's."""

    def charge(self, subscription: Subscription, index: int, *, at: datetime) -> bool: ...

    def void_unpaid(self, subscription: Subscription, *, at: datetime) -> int: ...

    def subscription_event(
        self, type: str, subscription: Subscription, *, at: datetime
    ) -> None: ...

    def plan_change_scheduled(self, subscription: Subscription) -> PlanChange: ...

    def plan_change_applied(
        self, change: PlanChange, subscription: Subscription, *, at: datetime
    ) -> None: ...


def _end(subscription: Subscription, status: str, event: str, books: Books, *, at: datetime) -> int:
    subscription.status = status
    subscription.ended_at = at
    subscription.next_boundary_at = None
    subscription.grace_ends_at = None
    books.subscription_event(event, subscription, at=at)
    return books.void_unpaid(subscription, at=at)


def _grace_end(subscription: Subscription, boundary: datetime) -> datetime:
    """When a period starting at ``boundary`` and left unpaid suspends its subscription:
    ``BILLING_GRACE_DAYS`` billing days later, and never after the period."""
    billing_day = subscription.period_seconds // subscription.plan_payment_cycle
    grace = timedelta(seconds=billing_day * settings.BILLING_GRACE_DAYS)
    return min(boundary + grace, subscription.next_boundary_at)


def _next_event_at(subscription: Subscription) -> datetime | None:
    """What the engine processes next: the grace period's end while past due (never after the
    next boundary), else the next boundary."""
    if subscription.status == Status.PAST_DUE:
        return subscription.grace_ends_at
    return subscription.next_boundary_at


def _term_start(
    subscription: Subscription, change: PlanChange, *, start_at: datetime, first_index: int
) -> None:
    """Put the subscription, in memory, on the change's plan: a new term of the new plan's
    terms from ``start_at``, whose first period is ``first_index`` (and current)."""
    subscription.plan_id = change.plan_id
    subscription.plan_name = change.plan_name
    subscription.plan_amount = change.plan_amount
    subscription.plan_payment_cycle = change.plan_payment_cycle
    subscription.plan_months_validity = change.plan_months_validity
    subscription.plan_cancellable = change.plan_cancellable
    subscription.period_seconds = change.period_seconds
    subscription.term_start_at = start_at
    subscription.term_first_index = first_index
    subscription.current_period_index = first_index
    subscription.end_at = subscription.period_start(subscription.term_end_index)
    subscription.next_boundary_at = subscription.period_start(first_index + 1)
    subscription.scheduled_plan_id = None
    change.first_period_index = first_index
    change.effective_at = start_at


def _advance(subscription: Subscription, report: BillingReport, books: Books) -> None:
    """Process the subscription's next event (:func:`_next_event_at`): a grace period's end,
    else the boundary at ``next_boundary_at``. Its events occur then, however late processed."""
    if subscription.status == Status.PAST_DUE:
        at = subscription.grace_ends_at
        subscription.status = Status.SUSPENDED
        subscription.grace_ends_at = None
        books.subscription_event(EventType.SUBSCRIPTION_SUSPENDED, subscription, at=at)
        report.suspended += 1
        return
    boundary = subscription.next_boundary_at
    index = subscription.current_period_index + 1
    if subscription.scheduled_plan_id is not None:
        # A change of plan asked for "at period end": the new plan's term starts here.
        change = books.plan_change_scheduled(subscription)
        _term_start(subscription, change, start_at=boundary, first_index=index)
        books.plan_change_applied(change, subscription, at=boundary)
    elif index >= subscription.term_end_index:
        report.invoices_voided += _end(
            subscription, Status.EXPIRED, EventType.SUBSCRIPTION_EXPIRED, books, at=boundary
        )
        report.expired += 1
        return
    else:
        subscription.current_period_index = index
        subscription.next_boundary_at = subscription.period_start(index + 1)
    if subscription.status != Status.ACTIVE:
        return  # a period that starts while paused or suspended is never billed
    if books.charge(subscription, index, at=boundary):
        report.invoices_paid += 1
        return
    report.invoices_unpaid += 1
    grace_end = _grace_end(subscription, boundary)
    if grace_end > boundary:
        subscription.status = Status.PAST_DUE
        subscription.grace_ends_at = grace_end
        books.subscription_event(EventType.SUBSCRIPTION_PAST_DUE, subscription, at=boundary)
    else:
        subscription.status = Status.SUSPENDED
        books.subscription_event(EventType.SUBSCRIPTION_SUSPENDED, subscription, at=boundary)
        report.suspended += 1


def boundaries_process(
    subscriptions: list[Subscription], until: datetime, report: BillingReport, books: Books
) -> list[Subscription]:
    """
    Process every boundary (and grace period's end) of one customer's ``subscriptions`` (live
    ones) passed by ``until``, earliest first, changing them in memory; return those that
    changed. The billing rules, shared by the real catch-up and the forecast's dry run.
    """
    changed: dict[int, Subscription] = {}
    while True:
        pending = [
            (at, s.pk, s)
            for s in subscriptions
            if (at := _next_event_at(s)) is not None and at <= until
        ]
        if not pending:
            break
        # One boundary at a time, earliest first: they compete for the same credit.
        *_, subscription = min(pending, key=lambda item: item[:2])
        with _blame(subscription):
            _advance(subscription, report, books)
        changed[subscription.pk] = subscription
    return list(changed.values())


def _due(now: datetime) -> Q:
    """Live subscriptions with a boundary or a grace period's end passed by ``now``."""
    return Q(status__in=LIVE) & (Q(next_boundary_at__lte=now) | Q(grace_ends_at__lte=now))


# Suspended or past-due subscriptions that their customer's credit now covers: a settlement that
# failed after a top-up, or each billing day's retry of a past-due invoice.
_SETTLES = Q(status__in=UNPAID, plan_amount__lte=F("user__credit"))


def _due_sql() -> str:
    """``_due(now)`` written out; its parameters are ``_due_params(now)``."""
    live = ", ".join(["%s"] * len(LIVE))
    return f"status IN ({live}) AND (next_boundary_at <= %s OR grace_ends_at <= %s)"


def _due_params(now: datetime) -> list[object]:
    # As the ORM passes a datetime: SQLite compares text, so ``now`` in UTC as stored.
    moment = connection.ops.adapt_datetimefield_value(now)
    return [*LIVE, moment, moment]


def _due_lock(user_id: int, now: datetime) -> list[int]:
    """Lock the customer's subscriptions ``_due(now)``; their ids in order. Written out: every
    purchase and settlement asks it, most find nothing, and the ORM took ~1 ms to build it
    (issue 13); ``test_catch_up_lock`` keeps it equal to ``_due``."""
    table = connection.ops.quote_name(Subscription._meta.db_table)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = f"SELECT id FROM {table} WHERE user_id = %s AND {_due_sql()} ORDER BY id{lock}"  # noqa: S608 (names)
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, *_due_params(now)])
        return [row[0] for row in cursor.fetchall()]


def _customer_catch_up(user_id: int, now: datetime, report: BillingReport, outbox: _Outbox) -> None:
    """Process every boundary the customer's live subscriptions passed by ``now``, in time order."""
    due_ids = _due_lock(user_id, now)
    # Already locked: read as they are now.
    due = list(Subscription.objects.filter(pk__in=due_ids).order_by("id")) if due_ids else []
    if due:
        report.customers += 1
    for subscription in boundaries_process(due, now, report, _Ledger(outbox, now)):
        with _blame(subscription):
            subscription.save()


def _bill_current_period(subscription: Subscription, now: datetime, outbox: _Outbox) -> bool:
    """
    Make sure the current period is paid: void unpaid invoices of periods that are over, then
    pay the current one (issuing it if needed). False, with nothing issued, if credit is short.
    """
    index = subscription.current_period_index
    _void_unpaid(subscription, now, outbox, at=now, before_index=index)
    invoice = Invoice.objects.filter(subscription=subscription, period_index=index).first()
    if invoice is not None and invoice.status == Invoice.Status.PAID:
        return True
    if invoice is None:
        balance = User.objects.values_list("credit", flat=True).get(pk=subscription.user_id)
        if balance < subscription.plan_amount:
            return False
        invoice = _invoice_issue(subscription, index, outbox, at=now)
    elif invoice.status == Invoice.Status.VOID:
        # Paid below, or rolled back with the refusal: its invoice.paid tells receivers.
        invoice.status, invoice.voided_at = Invoice.Status.UNPAID, None
        invoice.save(update_fields=["status", "voided_at"])
    return _invoice_try_pay(invoice, now, outbox, at=now)


def _settle(user_id: int, now: datetime, report: BillingReport, outbox: _Outbox) -> None:
    """Pay for the customer's suspended and past-due subscriptions that their credit covers,
    oldest first, and make them active."""
    unpaid = (
        Subscription.objects.select_for_update()
        .filter(user_id=user_id, status__in=UNPAID)
        .order_by("created_at", "id")
    )
    resumed = []
    for subscription in unpaid:
        with _blame(subscription):
            if _bill_current_period(subscription, now, outbox):
                subscription.status = Status.ACTIVE
                subscription.grace_ends_at = None
                subscription.save(update_fields=["status", "grace_ends_at", "updated_at"])
                outbox.subscription(EventType.SUBSCRIPTION_RESUMED, subscription, at=now)
                resumed.append(subscription)
    report.resumed += len(resumed)
    for subscription in resumed:
        logger.info("Subscription %s resumed: the credit covers its period", subscription.pk)


# --- One customer at a time, in isolation ------------------------------------------------------


def _failure_record(
    user_id: int, exc: Exception, *, subscription_id: int | None, now: datetime | None
) -> None:
    """Log and record that billing the customer failed (one row per customer, counted)."""
    subscription_id = getattr(exc, "subscription_id", subscription_id)
    cause = exc.__cause__ if isinstance(exc, SubscriptionBillingError) and exc.__cause__ else exc
    error = f"{type(cause).__name__}: {cause}"[:2000]
    logger.error(
        "Billing customer %s failed (subscription %s); the run goes on, the next one retries",
        user_id,
        subscription_id,
        exc_info=exc,
    )
    try:
        with transaction.atomic():
            moment = now or timezone.now()
            changes = {"subscription_id": subscription_id, "error": error}
            failing = BillingFailure.objects.filter(user_id=user_id)
            if failing.update(**changes, attempts=F("attempts") + 1, last_failed_at=moment):
                return
            try:
                with transaction.atomic():
                    BillingFailure.objects.create(
                        user_id=user_id, first_failed_at=moment, last_failed_at=moment, **changes
                    )
            except IntegrityError as race:
                if not violates(race, BillingFailure, "invoices_one_failure_per_customer"):
                    raise
                failing.update(**changes, attempts=F("attempts") + 1, last_failed_at=moment)
    except Exception:
        logger.exception("Could not record the billing failure of customer %s", user_id)


def _bill_customer(
    user_id: int,
    now: datetime | None,
    report: BillingReport,
    *,
    settle: bool = False,
    skip_locked: bool = False,
    durable: bool = True,
    failing: bool = True,
    subscription_id: int | None = None,
) -> bool:
    """
    Catch the customer up (and with ``settle``, resume what their credit covers) in a
    transaction of their own. A failure is rolled back, recorded and counted in
    ``report.failed``, never raised; a clean run clears the customer's recorded failure
    (``failing``: whether they may have one). False only if ``skip_locked`` found them busy.
    """
    own = BillingReport()
    try:
        with transaction.atomic(durable=durable):
            if not _lock_customer(user_id, skip_locked=skip_locked):
                return not skip_locked
            moment = now or timezone.now()
            with _customer_events(user_id) as outbox:
                _customer_catch_up(user_id, moment, own, outbox)
                if settle:
                    _settle(user_id, moment, own, outbox)
            if failing:
                BillingFailure.objects.filter(user_id=user_id).delete()
    except Exception as exc:
        _failure_record(user_id, exc, subscription_id=subscription_id, now=now)
        report.failed += 1
        return True
    report.add(own)
    return True


def _refuse_nesting() -> None:
    """A run bills each customer in a transaction of its own: inside another transaction it
    would hold every customer's lock to the end. Raise (RuntimeError) if the caller opened one."""
    with transaction.atomic(durable=True):
        pass


def _plan_taken(user_id: int, plan_id: int, *, other_than: int | None = None) -> bool:
    """Whether one of the customer's live subscriptions is on the plan, or will be (a change of
    plan scheduled): a customer has at most one live subscription per plan."""
    # Written out, as _due_lock; test_plan_taken keeps it equal to the ORM's filter.
    table = connection.ops.quote_name(Subscription._meta.db_table)
    live = ", ".join(["%s"] * len(LIVE))
    sql = (
        f"SELECT 1 FROM {table} WHERE user_id = %s AND status IN ({live})"  # noqa: S608 (names)
        " AND (plan_id = %s OR scheduled_plan_id = %s)"
    )
    params = [user_id, *LIVE, plan_id, plan_id]
    if other_than is not None:
        sql += " AND id <> %s"
        params.append(other_than)
    with connection.cursor() as cursor:
        cursor.execute(sql + " LIMIT 1", params)
        return cursor.fetchone() is not None


def _plan_change_withdraw(subscription: Subscription, now: datetime) -> None:
    """Withdraw the subscription's scheduled change of plan, if any (in memory for the
    subscription: the caller saves it)."""
    if subscription.scheduled_plan_id is None:
        return
    PlanChange.objects.filter(subscription=subscription, status=PlanChange.Status.SCHEDULED).update(
        status=PlanChange.Status.WITHDRAWN, withdrawn_at=now
    )
    subscription.scheduled_plan_id = None


# --- Many customers at once: the batch run of bill_due ----------------------------------------

# Customers per page of bill_due: one transaction and a bounded number of statements each.
BATCH_SIZE = 500


class _AnyOf(Lookup):
    """
    ``column = ANY(ids)``, for a page's hundreds of ids: on PostgreSQL one array parameter,
    where ``__in`` has a placeholder per id that Django prepares and psycopg finds, each in
    Python (a tenth of a page's time); elsewhere the ``IN`` list.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", (*params, list(self.rhs))
        marks = ", ".join(["%s"] * len(self.rhs))
        return f"{lhs} IN ({marks})", (*params, *self.rhs)


@dataclass
class _Account:
    """A customer of a batch page in memory: the balance and the time of the ledger's last line,
    as :func:`accounts.credit._move` would find them."""

    user_id: int
    balance: Decimal
    last_line_at: datetime | None


class _BatchBooks:
    """
    Books that record in memory what :class:`_Ledger` writes, for one customer of a batch page:
    the same invoices, payments (the balance never below zero, a line never dated before the
    previous one), voids, plans applied and events (rendered by the same :class:`_Outbox`), in
    the same order. :class:`_Page` writes those of every customer of the page together.
    """

    def __init__(
        self,
        account: _Account,
        now: datetime,
        outbox: _Outbox,
        unpaid: dict[int, list[Invoice]],
        scheduled: dict[int, PlanChange],
    ) -> None:
        self.account = account
        self.now = now
        self.outbox = outbox
        self.unpaid = unpaid  # by subscription: its unpaid invoices, stored or issued here
        self.scheduled = scheduled
        self.invoices: list[Invoice] = []  # issued, in order
        self.payments: list[tuple[CreditTransaction, Invoice]] = []  # in the order money moved
        self.voided: list[Invoice] = []  # stored ones voided
        self.changes: list[PlanChange] = []
        # Invoice events rendered before the invoice had its id and number.
        self.to_complete: list[tuple[dict, Invoice]] = []

    def _invoice_event(self, type: str, invoice: Invoice, *, at: datetime) -> None:
        self.outbox.invoice(type, invoice, at=at)
        if invoice.pk is None:
            self.to_complete.append((self.outbox.drafts[-1].data, invoice))

    def charge(self, subscription: Subscription, index: int, *, at: datetime) -> bool:
        issued_at = subscription.period_start(index)
        # Positional arguments, in the order of the fields (a test keeps them so): for a page's
        # thousands of invoices and ledger lines, keyword arguments cost Django three times as
        # much.
        invoice = Invoice(
            None,  # id
            subscription.pk,  # subscription_id
            subscription.user_id,
            index,  # period_index
            issued_at,  # period_start
            subscription.period_end(index),
            subscription.plan_id,
            subscription.plan_name,
            subscription.plan_amount,  # amount
            None,  # plan_change_id
            Invoice.Status.UNPAID,
            issued_at,
            "",  # number, number_year, number_seq: taken when the page is written
            None,
            None,
            None,  # paid_at
            None,  # voided_at
            None,  # payment_id
        )
        self.invoices.append(invoice)
        self._invoice_event(EventType.INVOICE_CREATED, invoice, at=at)
        account = self.account
        amount = -invoice.amount
        balance = account.balance + amount
        if balance < 0:  # as accounts.credit refuses it
            self.unpaid.setdefault(subscription.pk, []).append(invoice)
            return False
        created_at = self.now
        if account.last_line_at is not None and account.last_line_at > created_at:
            created_at = account.last_line_at  # never before the ledger's previous line
        line = CreditTransaction(
            None,  # id
            account.user_id,
            amount,
            CreditTransaction.Kind.INVOICE_PAYMENT,
            balance,  # balance_after
            None,  # invoice_id
            "",  # note
            None,  # created_by_id
            created_at,
        )
        account.balance, account.last_line_at = balance, created_at
        self.payments.append((line, invoice))
        invoice.status = Invoice.Status.PAID
        invoice.paid_at = created_at
        # As the outbox would render it: what invoice.created told, with the two fields that
        # paying changed rendered again (rendering it whole cost a third of the run's time).
        data = dict(self.outbox.drafts[-1].data)
        data["status"] = _INVOICE_STATUS.to_representation(invoice.status)
        data["paid_at"] = _INVOICE_PAID_AT.to_representation(invoice.paid_at)
        paid = EventDraft(type=EventType.INVOICE_PAID, data=data, occurred_at=at)
        self.outbox.drafts.append(paid)
        self.to_complete.append((data, invoice))
        return True

    def void_unpaid(self, subscription: Subscription, *, at: datetime) -> int:
        voided = sorted(self.unpaid.pop(subscription.pk, []), key=lambda i: i.period_index)
        for invoice in voided:
            invoice.status, invoice.voided_at = Invoice.Status.VOID, self.now
            if invoice.pk is not None:
                self.voided.append(invoice)
        for invoice in voided:
            self._invoice_event(EventType.INVOICE_VOIDED, invoice, at=at)
        return len(voided)

    def subscription_event(self, type: str, subscription: Subscription, *, at: datetime) -> None:
        self.outbox.subscription(type, subscription, at=at)

    def plan_change_scheduled(self, subscription: Subscription) -> PlanChange:
        change = self.scheduled.get(subscription.pk)
        if change is None:
            raise PlanChange.DoesNotExist(f"No change scheduled for subscription {subscription.pk}")
        return change

    def plan_change_applied(
        self, change: PlanChange, subscription: Subscription, *, at: datetime
    ) -> None:
        change.status = PlanChange.Status.APPLIED
        self.changes.append(change)
        self.outbox.subscription(EventType.SUBSCRIPTION_PLAN_CHANGED, subscription, at=at)


# What the rules change in a subscription (_advance, _end); a new term changes its plan's too.
_BOUNDARY_FIELDS = [
    "status",
    "current_period_index",
    "next_boundary_at",
    "grace_ends_at",
    "ended_at",
    "updated_at",
]
_TERM_FIELDS = [
    *_BOUNDARY_FIELDS,
    "plan_id",
    "plan_name",
    "plan_amount",
    "plan_payment_cycle",
    "plan_months_validity",
    "plan_cancellable",
    "period_seconds",
    "term_start_at",
    "term_first_index",
    "end_at",
    "scheduled_plan_id",
]


class _Page:
    """
    One page of a batch run: customers whose rows the caller has locked, billed by the same
    rules (:func:`boundaries_process`) as one customer at a time, in memory, then written
    together with a bounded number of statements.
    """

    def __init__(self, user_ids: list[int], now: datetime) -> None:
        self.user_ids = user_ids
        self.now = now
        self.books: list[_BatchBooks] = []
        self.changed: list[Subscription] = []
        self.failed: list[int] = []  # customers whose rules raised: billed alone afterwards
        self.events: dict[int, list[EventDraft]] = {}  # by customer, recorded by write()

    def bill(self, report: BillingReport) -> None:
        """Run the rules for every customer of the page, in memory."""
        now = self.now
        due = list(
            Subscription.objects.select_for_update()
            .filter(_due(now), _AnyOf(F("user_id"), self.user_ids))
            .order_by("user_id", "id")
        )
        if not due:
            return
        by_customer: dict[int, list[Subscription]] = {}
        for subscription in due:
            by_customer.setdefault(subscription.user_id, []).append(subscription)
        # Read after the lock, in statements of their own (as accounts.credit does).
        last_line = (
            CreditTransaction.objects.filter(user_id=OuterRef("pk"))
            .order_by("-id")
            .values("created_at")[:1]
        )
        accounts = {
            pk: _Account(pk, credit, last_at)
            for pk, credit, last_at in User.objects.filter(_AnyOf(F("pk"), list(by_customer)))
            .annotate(last_line_at=Subquery(last_line))
            .values_list("pk", "credit", "last_line_at")
        }
        unpaid: dict[int, list[Invoice]] = {}
        for invoice in Invoice.objects.filter(
            _AnyOf(F("subscription_id"), [s.pk for s in due]), status=Invoice.Status.UNPAID
        ).order_by("period_index"):
            unpaid.setdefault(invoice.subscription_id, []).append(invoice)
        changing = [s.pk for s in due if s.scheduled_plan_id is not None]
        scheduled = {}
        if changing:
            pending = PlanChange.objects.select_for_update().filter(
                subscription__in=changing, status=PlanChange.Status.SCHEDULED
            )
            scheduled = {change.subscription_id: change for change in pending}
        for user_id, subscriptions in by_customer.items():
            outbox = _Outbox(user_id, page=self.events)
            books = _BatchBooks(accounts[user_id], now, outbox, unpaid, scheduled)
            own = BillingReport(customers=1)
            try:
                changed = boundaries_process(subscriptions, now, own, books)
                outbox.record()  # to the page's events
            except Exception:
                self.events.pop(user_id, None)
                # Left out of the page's writes; billed alone, which records the failure.
                self.failed.append(user_id)
                continue
            report.add(own)
            self.books.append(books)
            self.changed.extend(changed)

    def write(self) -> None:
        """Write what :meth:`bill` recorded: a bounded number of statements for the page."""
        books = self.books
        invoices = [invoice for b in books for invoice in b.invoices]
        # The ledger lines in the order money moved (their ids follow it), each with the invoice
        # it paid. With their ids taken first (PostgreSQL), both are written once, linked.
        payments = [payment for b in books for payment in b.payments]
        lines = [line for line, _ in payments]
        linked = ids_take([(CreditTransaction, lines), (Invoice, invoices)])
        if linked:
            for line, invoice in payments:
                invoice.payment_id, line.invoice_id = line.pk, invoice.pk
        rows_insert(CreditTransaction, lines)
        paying = {b.account.user_id: b.account for b in books if b.payments}
        rows_update(User, ["credit"], [_Balance(a.user_id, a.balance) for a in paying.values()])
        moment = timezone.now()  # updated_at, as save() sets it
        for subscription in self.changed:
            subscription.updated_at = moment
        terms = {c.subscription_id for b in books for c in b.changes}
        rows_update(Subscription, _BOUNDARY_FIELDS, [s for s in self.changed if s.pk not in terms])
        rows_update(Subscription, _TERM_FIELDS, [s for s in self.changed if s.pk in terms])
        voided = [invoice.pk for b in books for invoice in b.voided]
        if voided:
            Invoice.objects.filter(_AnyOf(F("pk"), voided)).update(
                status=Invoice.Status.VOID, voided_at=self.now
            )
        changes = [change for b in books for change in b.changes]
        if changes:
            PlanChange.objects.bulk_update(
                changes, ["status", "first_period_index", "effective_at"]
            )
        billed = [user_id for user_id in self.user_ids if user_id not in set(self.failed)]
        BillingFailure.objects.filter(_AnyOf(F("user_id"), billed)).delete()
        if invoices:
            # Numbers in issue order, a block per year, taken last (after every other lock):
            # the year's counter stays locked to the commit, and the next page waits for it.
            years: dict[int, list[Invoice]] = {}
            for invoice in invoices:
                years.setdefault(invoice_number_year(invoice.issued_at), []).append(invoice)
            for year, issued in sorted(years.items()):
                first = invoice_numbers_take(year=year, count=len(issued))
                for seq, invoice in enumerate(issued, start=first):
                    invoice.number = str(InvoiceNumber(year, seq))
                    invoice.number_year, invoice.number_seq = year, seq
        if not linked:
            for line, invoice in payments:
                invoice.payment_id = line.pk
        rows_insert(Invoice, invoices)
        if not linked:
            for line, invoice in payments:
                line.invoice_id = invoice.pk
            rows_update(CreditTransaction, ["invoice_id"], lines)
        for b in books:
            for data, invoice in b.to_complete:
                data["id"], data["number"] = invoice.pk, invoice.number
        event_record_batch(drafts=self.events)


@dataclass
class _Balance:
    """A customer's new balance, for ``rows_update`` (``User`` has many more columns)."""

    pk: int
    credit: Decimal

    @property
    def id(self) -> int:
        return self.pk


def _settling(user_ids: list[int]) -> set[int]:
    """Which of these customers have a suspended or past-due subscription their credit covers."""
    return set(
        Subscription.objects.filter(_SETTLES, _AnyOf(F("user_id"), user_ids))
        .order_by()
        .values_list("user_id", flat=True)
        .distinct()
    )


def _bill_batch(
    user_ids: list[int], now: datetime | None, report: BillingReport, *, skip_locked: bool
) -> tuple[list[int], list[int]]:
    """
    Bill these customers in one transaction that locks them (``skip_locked``: those another
    transaction holds are left out). Return the customers left out (busy), and those to bill
    alone: whose rules raised, or all of them if the page's writes failed (rolled back).
    """
    locked: list[int] | None = None
    own = BillingReport()
    try:
        with transaction.atomic(durable=True):
            locked = list(
                User.objects.select_for_update(no_key=True, skip_locked=skip_locked)
                .filter(_AnyOf(F("pk"), user_ids))
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            page = _Page(locked, now or timezone.now())
            page.bill(own)
            page.write()
    except Exception:
        logger.exception("A page of %s customers failed: billing them one by one", len(user_ids))
        if locked is None:
            return [], list(user_ids)
        return sorted(set(user_ids) - set(locked)), locked
    report.add(own)
    return sorted(set(user_ids) - set(locked)), page.failed


def _bill_page(
    user_ids: list[int],
    now: datetime | None,
    report: BillingReport,
    *,
    skip_locked: bool,
    progress: Callable[[int], object] | None = None,
) -> list[tuple[int, bool]]:
    """
    Bill a page of customers: in one batch those with only boundaries due, alone (as before)
    those with a settlement to make and those the batch could not bill. Return the customers
    found busy, with whether to settle them, for the caller to bill waiting.
    """
    to_settle = _settling(user_ids)
    batch = [user_id for user_id in user_ids if user_id not in to_settle]
    busy, alone = _bill_batch(batch, now, report, skip_locked=skip_locked) if batch else ([], [])
    if progress is not None and (done := len(batch) - len(busy) - len(alone)):
        progress(done)
    left = [(user_id, False) for user_id in busy]
    for user_id in [*alone, *sorted(to_settle)]:
        settle = user_id in to_settle
        if not _bill_customer(user_id, now, report, settle=settle, skip_locked=skip_locked):
            left.append((user_id, settle))
        elif progress is not None:
            progress(1)
    return left


def _bill_pages_in_threads(
    pages: Iterator[list[int]],
    workers: int,
    now: datetime | None,
    report: BillingReport,
    skip_locked: bool,
    progress: Callable[[int], object] | None,
) -> list[tuple[int, bool]]:
    """
    Bill the pages in ``workers`` threads, each with its own connection, taking the next page
    from the one keyset walk: while one thread waits for PostgreSQL to write a page (psycopg
    releases the GIL), another runs the rules for the next. Each page is still its own
    transaction, with SKIP LOCKED. Return the customers found busy, in id order.
    """
    lock = threading.Lock()
    # The caller's time zone and language: rendering the events depends on them.
    zone, language = timezone.get_current_timezone(), translation.get_language()

    def take() -> list[int] | None:
        with lock:
            return next(pages, None)

    def told(count: int) -> None:
        with lock:
            progress(count)

    def work() -> list[tuple[int, bool]]:
        busy = []
        try:
            with timezone.override(zone), translation.override(language):
                while (user_ids := take()) is not None:
                    own = BillingReport()
                    busy += _bill_page(
                        user_ids,
                        now,
                        own,
                        skip_locked=skip_locked,
                        progress=told if progress is not None else None,
                    )
                    with lock:
                        report.add(own)
        finally:
            connection.close()
        return busy

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bill_due") as pool:
        results = [pool.submit(work) for _ in range(workers)]
        busy = [customer for result in results for customer in result.result()]
    return sorted(busy)


def _customer_pages(now: datetime, size: int) -> Iterator[list[int]]:
    """Keyset pages of the customers with a boundary due by ``now`` or a settlement to make, in
    id order: at most ``size`` ids in memory at a time."""
    to_bill = Subscription.objects.filter(_due(now) | _SETTLES)
    after = 0
    while True:
        page = list(
            to_bill.filter(user_id__gt=after)
            .order_by("user_id")
            .values_list("user_id", flat=True)
            .distinct()[:size]
        )
        if not page:
            return
        yield page
        after = page[-1]


# --- Public services ---------------------------------------------------------------------------


def subscription_purchase(
    *, user_id: int, plan_id: int, now: datetime | None = None
) -> Subscription:
    """Subscribe to a purchasable plan and pay its first period at once (402: nothing happens)."""
    try:
        # Not durable: the API's Idempotency-Key wraps it in the transaction that stores the answer.
        with transaction.atomic():
            _lock_customer(user_id)
            now = now or timezone.now()
            outbox = _Outbox(user_id)
            _customer_catch_up(user_id, now, BillingReport(), outbox)
            plan = Plan.objects.purchasable().filter(pk=plan_id).first()
            if plan is None:
                raise NotFoundError(gettext("There is no purchasable plan with this id."))
            if _plan_taken(user_id, plan.pk):
                raise AlreadySubscribed()
            period_seconds = plan.payment_cycle * settings.BILLING_DAY_SECONDS
            subscription = Subscription(
                user_id=user_id,
                plan=plan,
                plan_name=plan.name,
                plan_amount=plan.amount,
                plan_payment_cycle=plan.payment_cycle,
                plan_months_validity=plan.total_valid_months,
                plan_cancellable=plan.is_cancellable,
                period_seconds=period_seconds,
                status=Status.ACTIVE,
                start_at=now,
                term_start_at=now,
                created_at=now,
            )
            subscription.end_at = subscription.period_start(plan.total_valid_months)
            subscription.next_boundary_at = subscription.period_start(1)
            subscription.save()
            outbox.subscription(EventType.SUBSCRIPTION_CREATED, subscription, at=now)
            invoice = _invoice_issue(subscription, 0, outbox, at=now)
            _invoice_pay(invoice, now, outbox, at=now)
            outbox.record()
    except IntegrityError as exc:
        if not violates(exc, Subscription, "subscriptions_one_live_per_plan"):
            raise
        # The database's one-live-subscription-per-plan rule caught a race.
        raise AlreadySubscribed() from None
    logger.info(
        "Customer %s subscribed to %s (subscription %s)", user_id, plan.name, subscription.pk
    )
    return subscription


def subscription_bill(*, subscription_id: int, now: datetime | None = None) -> BillingReport:
    """Bill what is due for the subscription's customer (the scheduler job's entry point).
    A failure is recorded and counted in the report, not raised; the sweep retries it."""
    _refuse_nesting()
    report = BillingReport()
    user_id = (
        Subscription.objects.filter(pk=subscription_id).values_list("user_id", flat=True).first()
    )
    if user_id is not None:
        _bill_customer(user_id, now, report, subscription_id=subscription_id)
    return report


def bill_due(
    *, now: datetime | None = None, progress: Callable[[int], object] | None = None
) -> BillingReport:
    """
    Bill every customer with something due by ``now``: each period start passed, in order,
    once; and the suspended subscriptions their credit now covers. Customers are billed in
    keyset pages of ``BATCH_SIZE``, each page in one transaction with a bounded number of
    statements (:class:`_Page`), by the same rules as one customer at a time; one whose billing
    fails is billed alone, recorded (``report.failed``), and the run goes on with the others.
    On PostgreSQL, ``BILLING_WORKERS`` threads (2 by default) bill the pages.
    """
    _refuse_nesting()
    report = BillingReport()
    # First pass: on PostgreSQL, step over customers another transaction holds (another
    # bill_due, a purchase…) instead of queueing behind it, so two runs share the work.
    # Second pass: wait for those, so that none is left out.
    skip = connection.features.has_select_for_update_skip_locked
    pages = _customer_pages(now or timezone.now(), BATCH_SIZE)
    workers = settings.BILLING_WORKERS
    if workers > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        busy = _bill_pages_in_threads(pages, workers, now, report, skip, progress)
    else:
        # One thread: SQLite has one writer, and inside a transaction (a test's) another
        # thread's connection would not see its rows.
        busy = []
        for user_ids in pages:
            busy += _bill_page(user_ids, now, report, skip_locked=skip, progress=progress)
    for user_id, settle in busy:
        _bill_customer(user_id, now, report, settle=settle)
        if progress is not None:
            progress(1)
    if report.failed:
        logger.error("Billing run: %s customer(s) failed and will be retried", report.failed)
    return report


def customer_pages_due(
    *, now: datetime | None = None, size: int = BATCH_SIZE
) -> Iterator[list[int]]:
    """The ids of the customers :func:`bill_due` would bill, in keyset pages of ``size`` (for
    the Celery sweep, which hands them to workers)."""
    return _customer_pages(now or timezone.now(), size)


def customers_bill(*, user_ids: list[int], now: datetime | None = None) -> BillingReport:
    """
    Bill these customers as :func:`bill_due` bills one of its pages (set-based, one
    transaction; alone those with a settlement to make or whose rules raised), then, waiting,
    the ones another transaction held. Each customer's time is read under their lock.
    """
    _refuse_nesting()
    report = BillingReport()
    skip = connection.features.has_select_for_update_skip_locked
    busy = _bill_page(sorted(user_ids), now, report, skip_locked=skip)
    for user_id, settle in busy:
        _bill_customer(user_id, now, report, settle=settle)
    return report


def customer_needs_settling(*, user_id: int, now: datetime) -> bool:
    """
    Whether :func:`subscriptions_settle` would do anything for the customer: a suspended or
    past-due subscription to pay, a boundary or grace period's end passed by ``now`` to catch
    up, or a recorded billing failure to clear. One indexed query: most top-ups find nothing
    and skip the settlement's transaction.
    """
    # Written out: building this as Exists(...) | Exists(...) through the ORM cost about ten
    # times what the database takes to answer it (~2 ms of a top-up). The subscriptions' test is
    # UNPAID or _due(now); test_settle_shortcut keeps them in step.
    quote = connection.ops.quote_name
    subscriptions = quote(Subscription._meta.db_table)
    failures = quote(BillingFailure._meta.db_table)
    unpaid = ", ".join(["%s"] * len(UNPAID))
    sql = (
        f"SELECT EXISTS (SELECT 1 FROM {subscriptions} WHERE user_id = %s"  # noqa: S608 (names)
        f" AND (status IN ({unpaid}) OR ({_due_sql()})))"
        f" OR EXISTS (SELECT 1 FROM {failures} WHERE user_id = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, *UNPAID, *_due_params(now), user_id])
        return bool(cursor.fetchone()[0])


def bill_due_count(*, now: datetime | None = None) -> int:
    """How many customers :func:`bill_due` would visit."""
    to_bill = Subscription.objects.filter(_due(now or timezone.now()) | _SETTLES)
    return to_bill.values("user_id").distinct().count()


def subscriptions_settle(*, user_id: int, now: datetime | None = None) -> BillingReport:
    """
    After credit arrived: resume the customer's suspended subscriptions that it covers, oldest
    first. A failure is recorded, not raised (the top-up stands); the sweep settles later.
    """
    report = BillingReport()
    # Not durable: a top-up through the API runs inside the Idempotency-Key's transaction.
    _bill_customer(user_id, now, report, settle=True, durable=False)
    return report


def subscription_pause(
    *, user_id: int, subscription_id: int, now: datetime | None = None
) -> Subscription:
    """Deactivate: no period starting while paused is billed. Pausing twice changes nothing."""
    with transaction.atomic(), _customer_events(user_id) as outbox:
        subscription, now = _live_subscription(user_id, subscription_id, now, outbox)
        if subscription.status != Status.PAUSED:
            subscription.status = Status.PAUSED
            subscription.paused_at = now
            subscription.grace_ends_at = None  # its unpaid invoice waits for the reactivation
            subscription.save(update_fields=["status", "paused_at", "grace_ends_at", "updated_at"])
            outbox.subscription(EventType.SUBSCRIPTION_PAUSED, subscription, at=now)
    return subscription


def subscription_reactivate(
    *, user_id: int, subscription_id: int, now: datetime | None = None
) -> Subscription:
    """Make a paused (or suspended) subscription active, paying the current period if unpaid."""
    with transaction.atomic(), _customer_events(user_id) as outbox:
        subscription, now = _live_subscription(user_id, subscription_id, now, outbox)
        if subscription.status == Status.ACTIVE:
            return subscription  # the catch-up's events, if any, are recorded on the way out
        if not _bill_current_period(subscription, now, outbox):
            balance = User.objects.values_list("credit", flat=True).get(pk=user_id)
            raise InsufficientCredit(needed=subscription.plan_amount, balance=balance)
        subscription.status = Status.ACTIVE
        subscription.paused_at = None
        subscription.grace_ends_at = None
        subscription.save(update_fields=["status", "paused_at", "grace_ends_at", "updated_at"])
        outbox.subscription(EventType.SUBSCRIPTION_RESUMED, subscription, at=now)
    return subscription


def subscription_set_active(
    *, user_id: int, subscription_id: int, active: bool, now: datetime | None = None
) -> Subscription:
    if active:
        return subscription_reactivate(user_id=user_id, subscription_id=subscription_id, now=now)
    return subscription_pause(user_id=user_id, subscription_id=subscription_id, now=now)


def subscription_cancel(
    *, user_id: int, subscription_id: int, now: datetime | None = None
) -> Subscription:
    """Cancel a cancellable plan's subscription: no more invoices, no refund."""
    with transaction.atomic(), _customer_events(user_id) as outbox:
        subscription, now = _live_subscription(user_id, subscription_id, now, outbox)
        if not subscription.plan_cancellable:
            raise SubscriptionNotCancellable(subscription)
        _plan_change_withdraw(subscription, now)
        _end(
            subscription,
            Status.CANCELLED,
            EventType.SUBSCRIPTION_CANCELLED,
            _Ledger(outbox, now),
            at=now,
        )
        subscription.save()
    return subscription


# --- Changes of plan ---------------------------------------------------------------------------

CENT = Decimal("0.01")
Timing = PlanChange.Timing


@dataclass(frozen=True)
class PlanChangeQuote:
    """What a change of plan moves: what the preview shows is what the change does."""

    subscription_id: int
    plan_id: int
    at: str
    effective_at: datetime
    credit_back: Decimal
    charge: Decimal
    balance: Decimal
    balance_after: Decimal
    payable: bool
    next_billing_at: datetime | None
    next_billing_amount: Decimal | None


def _unused_credit(subscription: Subscription, now: datetime) -> Decimal:
    """The paid part of the current period not used by ``now``, by whole seconds, to the cent
    (half up). Nothing if the current period is unpaid (past due, or skipped while paused)."""
    index = subscription.current_period_index
    paid = (
        Invoice.objects.filter(
            subscription=subscription, period_index=index, status=Invoice.Status.PAID
        )
        .values_list("amount", flat=True)
        .first()
    )
    if paid is None:
        return CENT * 0
    unused = int((subscription.period_end(index) - now).total_seconds())
    unused = min(max(unused, 0), subscription.period_seconds)
    return (paid * unused / subscription.period_seconds).quantize(CENT, ROUND_HALF_UP)


def _plan_change_prepare(
    *,
    user_id: int,
    subscription_id: int,
    plan_id: int,
    timing: str,
    now: datetime | None,
    outbox: _Outbox,
) -> tuple[Subscription, PlanChange, PlanChangeQuote]:
    """Lock and catch up the customer, check the change may be made, and work out what it
    moves: the subscription (locked), the change (unsaved) and its quote."""
    subscription, now = _live_subscription(user_id, subscription_id, now, outbox)
    plan = Plan.objects.purchasable().filter(pk=plan_id).first()
    if plan is None:
        raise NotFoundError(gettext("There is no purchasable plan with this id."))
    if plan.pk == subscription.plan_id:
        raise SamePlan()
    if _plan_taken(user_id, plan.pk, other_than=subscription.pk):
        raise AlreadySubscribed()
    change = PlanChange(
        subscription=subscription,
        timing=timing,
        status=PlanChange.Status.SCHEDULED,
        from_plan_id=subscription.plan_id,
        from_plan_name=subscription.plan_name,
        from_plan_amount=subscription.plan_amount,
        plan=plan,
        plan_name=plan.name,
        plan_amount=plan.amount,
        plan_payment_cycle=plan.payment_cycle,
        plan_months_validity=plan.total_valid_months,
        plan_cancellable=plan.is_cancellable,
        period_seconds=plan.payment_cycle * settings.BILLING_DAY_SECONDS,
        requested_at=now,
        effective_at=subscription.next_boundary_at if timing == Timing.PERIOD_END else now,
    )
    balance = User.objects.values_list("credit", flat=True).get(pk=user_id)
    # The subscription as the change leaves it, in memory, for its next billing.
    after = copy.copy(subscription)
    credit_back = charge = CENT * 0
    if timing == Timing.NOW:
        credit_back = _unused_credit(subscription, now)
        charge = plan.amount
        first_index = subscription.current_period_index + 1
        _term_start(after, copy.copy(change), start_at=now, first_index=first_index)
        after.status = Status.ACTIVE
    else:
        after.scheduled_plan_id = plan.pk
    balance_after = balance + credit_back - charge
    next_billing_at = after.next_billing_at
    quote = PlanChangeQuote(
        subscription_id=subscription.pk,
        plan_id=plan.pk,
        at=timing,
        effective_at=change.effective_at,
        credit_back=credit_back,
        charge=charge,
        balance=balance,
        balance_after=balance_after,
        payable=balance_after >= 0,
        next_billing_at=next_billing_at,
        next_billing_amount=plan.amount if next_billing_at is not None else None,
    )
    return subscription, change, quote


def subscription_plan_change_preview(
    *, user_id: int, subscription_id: int, plan_id: int, timing: str, now: datetime | None = None
) -> PlanChangeQuote:
    """What :func:`subscription_plan_change` would move now; nothing is written (the catch-up
    it runs first is rolled back, as any locks are released, at the end)."""
    with transaction.atomic():
        _, _, quote = _plan_change_prepare(
            user_id=user_id,
            subscription_id=subscription_id,
            plan_id=plan_id,
            timing=timing,
            now=now,
            outbox=_Outbox(user_id),
        )
        transaction.set_rollback(True)
    return quote


def subscription_plan_change(
    *, user_id: int, subscription_id: int, plan_id: int, timing: str, now: datetime | None = None
) -> tuple[Subscription, PlanChange, PlanChangeQuote]:
    """
    Move the subscription to another purchasable plan. ``now``: the unused part of the paid
    period is credited back, and the new plan's first period starts and is paid at once (402,
    nothing changed, if the credit can't pay it). ``period_end``: scheduled for the next
    period start, replacing any change scheduled before.
    """
    # Not durable: the API's Idempotency-Key wraps it in the transaction that stores the answer.
    with transaction.atomic(), _customer_events(user_id) as outbox:
        subscription, change, quote = _plan_change_prepare(
            user_id=user_id,
            subscription_id=subscription_id,
            plan_id=plan_id,
            timing=timing,
            now=now,
            outbox=outbox,
        )
        now = change.requested_at
        if timing == Timing.PERIOD_END:
            _plan_change_withdraw(subscription, now)
            change.save()
            subscription.scheduled_plan_id = change.plan_id
            subscription.save(update_fields=["scheduled_plan", "updated_at"])
            return subscription, change, quote
        if not quote.payable:
            raise InsufficientCredit(needed=quote.charge, balance=quote.balance + quote.credit_back)
        _plan_change_withdraw(subscription, now)
        index = subscription.current_period_index
        if quote.credit_back:
            entry = credit_prorate(
                user_id=user_id,
                amount=quote.credit_back,
                note=f"Unused part of {subscription.plan_name}, period {index + 1}",
                now=now,
            )
            now = entry.created_at  # never before the ledger's previous line
        # Unpaid invoices of the old plan's periods go: the new plan's period replaces them.
        _void_unpaid(subscription, now, outbox, at=now)
        _term_start(subscription, change, start_at=change.requested_at, first_index=index + 1)
        subscription.status = Status.ACTIVE
        subscription.paused_at = None
        subscription.grace_ends_at = None
        subscription.save()
        change.status = PlanChange.Status.APPLIED
        change.credit_back = quote.credit_back
        change.save()
        outbox.subscription(EventType.SUBSCRIPTION_PLAN_CHANGED, subscription, at=now)
        invoice = _invoice_issue(subscription, index + 1, outbox, at=now, plan_change=change)
        _invoice_pay(invoice, now, outbox, at=now)
        # Credit that came back resumes other subscriptions at the next billing run (the sweep
        # settles what the credit covers), not here: the change moves exactly what its preview
        # said.
    logger.info(
        "Subscription %s of customer %s moved to plan %s (%s)",
        subscription.pk,
        user_id,
        change.plan_id,
        timing,
    )
    return subscription, change, quote


def subscription_plan_change_withdraw(
    *, user_id: int, subscription_id: int, now: datetime | None = None
) -> Subscription:
    """Withdraw the subscription's scheduled change of plan (404 if none is scheduled)."""
    with transaction.atomic(), _customer_events(user_id) as outbox:
        subscription, now = _live_subscription(user_id, subscription_id, now, outbox)
        if subscription.scheduled_plan_id is None:
            raise NotFoundError(gettext("No change of plan is scheduled for this subscription."))
        _plan_change_withdraw(subscription, now)
        subscription.save(update_fields=["scheduled_plan", "updated_at"])
    return subscription
