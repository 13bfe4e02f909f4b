"""
The figures of the operator's dashboard, read from the database.

Every figure is an aggregate computed by the database (``GROUP BY`` a day, a month, a status or a
plan); Python only fills in the days that had nothing and adds up at most a few hundred rows, so
the page takes the same number of queries whatever the number of invoices, events or customers.
The lists that ask for action are capped (``LIST_LIMIT``); the renewals at risk run the billing
engine's forecast for at most ``FORECAST_CANDIDATES`` customers, picked by one set-based query.

Days and months are the server's (``TIME_ZONE``); a window of ``days`` days ends with today.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateField,
    DecimalField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Lag, TruncDate, TruncMonth
from django.utils import timezone
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from accounts.models import CreditTransaction
from events.models import Event, EventType
from invoices.forecast import credit_forecast
from invoices.models import BillingFailure, Invoice
from subscriptions.models import Subscription
from webhooks.models import WebhookDelivery, WebhookEndpoint

WINDOWS = (7, 30, 90, 365)
DEFAULT_WINDOW = 30
# The renewals at risk: the coming billing days looked at, and how many customers the forecast
# checks at most (the earliest renewals first).
FORECAST_DAYS = 7
FORECAST_CANDIDATES = 10
# Rows shown in each list that asks for action.
LIST_LIMIT = 20

ZERO = Decimal("0.00")
Status = Subscription.Status
# The statuses charted over time: the live ones.
CHARTED_STATUSES = (Status.ACTIVE, Status.PAST_DUE, Status.PAUSED, Status.SUSPENDED)
SUBSCRIPTION_EVENTS = [value for value in EventType.values if value.startswith("subscription.")]
CHURNED = (Status.CANCELLED, Status.EXPIRED)


# --- The window ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """The last ``days`` days up to ``now``, today included, in the server's time zone."""

    now: datetime
    days: int
    start: datetime  # midnight at the start of the first day
    dates: list[date]
    months: list[date]  # the first day of each month the window touches

    @classmethod
    def ending(cls, *, now: datetime, days: int) -> Span:
        zone = timezone.get_current_timezone()
        today = timezone.localdate(now, zone)
        first = today - timedelta(days=days - 1)
        start = timezone.make_aware(datetime.combine(first, time.min), zone)
        dates = [first + timedelta(days=n) for n in range(days)]
        months = sorted({day.replace(day=1) for day in dates})
        return cls(now=now, days=days, start=start, dates=dates, months=months)


def window_days(value: Any) -> int:
    """The window asked for (``?days=``), or the default for anything else."""
    try:
        days = int(value)
    except (TypeError, ValueError):
        return DEFAULT_WINDOW
    return days if days in WINDOWS else DEFAULT_WINDOW


# --- Series ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One bar: a day (or a month's first day), an amount or a count, and how many made it."""

    day: date
    value: Decimal | int
    count: int = 0


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])  # a raw query's date on SQLite


def _money(value: Any) -> Decimal:
    # SQLite adds decimals up as floats: back to cents.
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _filled(rows: dict[date, tuple[Any, int]], days: list[date], zero: Any) -> list[Point]:
    return [Point(day, *rows.get(day, (zero, 0))) for day in days]


def revenue_by_day(*, window: Span) -> list[Point]:
    """Money collected each day: paid invoices by the day they were paid."""
    zone = timezone.get_current_timezone()
    rows = (
        Invoice.objects.filter(
            status=Invoice.Status.PAID, paid_at__gte=window.start, paid_at__lte=window.now
        )
        .annotate(on=TruncDate("paid_at", tzinfo=zone))
        .values("on")
        .annotate(amount=Sum("amount"), count=Count("id"))
        .order_by("on")
    )
    found = {_as_date(row["on"]): (_money(row["amount"]), row["count"]) for row in rows}
    return _filled(found, window.dates, ZERO)


def revenue_by_month(*, window: Span) -> list[Point]:
    """Money collected in each month the window touches, whole months (the first one too)."""
    zone = timezone.get_current_timezone()
    first = timezone.make_aware(datetime.combine(window.months[0], time.min), zone)
    rows = (
        Invoice.objects.filter(
            status=Invoice.Status.PAID, paid_at__gte=first, paid_at__lte=window.now
        )
        .annotate(month=TruncMonth("paid_at", tzinfo=zone))
        .values("month")
        .annotate(amount=Sum("amount"), count=Count("id"))
        .order_by("month")
    )
    found = {
        _as_date(row["month"]).replace(day=1): (_money(row["amount"]), row["count"]) for row in rows
    }
    return _filled(found, window.months, ZERO)


def top_ups_by_day(*, window: Span) -> list[Point]:
    """Credit bought each day (the ledger's top-ups)."""
    zone = timezone.get_current_timezone()
    rows = (
        CreditTransaction.objects.filter(
            kind=CreditTransaction.Kind.TOP_UP,
            created_at__gte=window.start,
            created_at__lte=window.now,
        )
        .annotate(on=TruncDate("created_at", tzinfo=zone))
        .values("on")
        .annotate(amount=Sum("amount"), count=Count("id"))
        .order_by("on")
    )
    found = {_as_date(row["on"]): (_money(row["amount"]), row["count"]) for row in rows}
    return _filled(found, window.dates, ZERO)


# --- Subscriptions over time -----------------------------------------------------------------


@dataclass(frozen=True)
class StatusHistory:
    """How many subscriptions had each live status at the end of each day (today: now), and
    how many were suspended and resumed (suspended → active) each day."""

    dates: list[date]
    by_status: dict[str, list[int]]
    suspensions: list[Point]
    resumptions: list[Point]


def _transitions(*, window: Span) -> list[tuple[date, str | None, str, int]]:
    """
    ``(day, from status, to status, count)`` of the status changes in the window, from the
    events outbox: each ``subscription.*`` event holds the subscription as it was after the
    change, and the one before it (``LAG`` over the subscription's events, in the customer's
    sequence) as it was before. Counted in the database; the window function needs the
    subscription's earlier events, so the window's filter applies outside it.
    """
    zone = timezone.get_current_timezone()
    in_window = Q(occurred_at__gte=window.start, occurred_at__lte=window.now)
    status = KeyTextTransform("status", "data")
    changes = (
        Event.objects.filter(type__in=SUBSCRIPTION_EVENTS)
        .annotate(
            on_day=Case(
                When(in_window, then=TruncDate("occurred_at", tzinfo=zone)),
                default=None,
                output_field=DateField(),
            ),
            from_status=Window(
                Lag(status),
                partition_by=[KeyTransform("id", "data")],
                order_by=[F("sequence").asc()],
            ),
            to_status=status,
        )
        .order_by()
        .values("on_day", "from_status", "to_status")
    )
    sql, params = changes.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT on_day, from_status, to_status, COUNT(*) FROM (" + sql + ") changes"  # noqa: S608
            " WHERE on_day IS NOT NULL GROUP BY on_day, from_status, to_status",
            params,
        )
        rows = cursor.fetchall()
    return [(_as_date(day), before, after, count) for day, before, after, count in rows]


def subscription_history(*, window: Span) -> StatusHistory:
    """
    Counted backwards from now: today's figures are the subscriptions table's own (exact, also
    for subscriptions older than the outbox); each earlier day's end undoes the changes made
    after it. Two queries: the counts by status now, and the changes by day.
    """
    now_counts = dict(
        Subscription.objects.filter(status__in=CHARTED_STATUSES)
        .order_by()
        .values_list("status")
        .annotate(count=Count("id"))
    )
    net: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    suspended: dict[date, int] = defaultdict(int)
    resumed: dict[date, int] = defaultdict(int)
    for day, before, after, count in _transitions(window=window):
        if before == after:
            continue
        net[day][after] += count
        if before is not None:
            net[day][before] -= count
        if after == Status.SUSPENDED:
            suspended[day] += count
        if before == Status.SUSPENDED and after == Status.ACTIVE:
            resumed[day] += count
    counts = {status.value: now_counts.get(status, 0) for status in CHARTED_STATUSES}
    by_status: dict[str, list[int]] = {status: [] for status in counts}
    for day in reversed(window.dates):  # at the end of ``day``; then undo its changes
        for status in counts:
            by_status[status].append(counts[status])
            counts[status] -= net[day][status]
    for series in by_status.values():
        series.reverse()
    return StatusHistory(
        dates=window.dates,
        by_status=by_status,
        suspensions=[Point(day, suspended[day], suspended[day]) for day in window.dates],
        resumptions=[Point(day, resumed[day], resumed[day]) for day in window.dates],
    )


@dataclass(frozen=True)
class PlanMovement:
    plan_id: int
    plan_name: str
    new: int
    cancelled: int
    expired: int

    @property
    def churn(self) -> int:
        return self.cancelled + self.expired


def plan_movements(*, window: Span) -> list[PlanMovement]:
    """Per plan (the subscription's current one): subscriptions bought in the window, and those
    that ended in it, cancelled or expired. One query."""
    bought = Q(start_at__gte=window.start, start_at__lte=window.now)
    ended = Q(ended_at__gte=window.start, ended_at__lte=window.now)
    rows = (
        Subscription.objects.filter(bought | (ended & Q(status__in=CHURNED)))
        .order_by()
        .values("plan_id", "plan__name")
        .annotate(
            new=Count("id", filter=bought),
            cancelled=Count("id", filter=ended & Q(status=Status.CANCELLED)),
            expired=Count("id", filter=ended & Q(status=Status.EXPIRED)),
        )
    )
    movements = [
        PlanMovement(
            plan_id=row["plan_id"],
            plan_name=row["plan__name"],
            new=row["new"],
            cancelled=row["cancelled"],
            expired=row["expired"],
        )
        for row in rows
    ]
    return sorted(movements, key=lambda m: (-m.new - m.churn, m.plan_name))


# --- Lists that ask for action ---------------------------------------------------------------


@dataclass(frozen=True)
class RenewalAtRisk:
    user_id: int
    name: str
    phone: str
    balance: Decimal
    at: datetime  # the first charge the credit will not cover
    plan_name: str
    amount: Decimal
    shortfall: Decimal  # what the uncovered charges in the coming days add up to


@dataclass(frozen=True)
class RenewalsAtRisk:
    days: int
    customers: list[RenewalAtRisk]
    checked: int
    more: bool  # more candidates than the forecast checked


def renewals_at_risk(
    *, now: datetime, days: int = FORECAST_DAYS, limit: int = FORECAST_CANDIDATES
) -> RenewalsAtRisk:
    """
    Customers whose credit will not cover a renewal in the next ``days`` billing days. One
    query picks the candidates: customers with a served subscription renewing by then whose
    credit is below the most those renewals can charge (each subscription at most
    ``1 + horizon // period`` times); the billing engine's forecast
    (:func:`invoices.forecast.credit_forecast`, two queries each) then decides, for the
    ``limit`` earliest.
    """
    horizon_seconds = days * settings.BILLING_DAY_SECONDS
    horizon = now + timedelta(seconds=horizon_seconds)
    most = ExpressionWrapper(
        F("plan_amount") * (Value(1) + Value(horizon_seconds) / F("period_seconds")),
        output_field=DecimalField(max_digits=16, decimal_places=2),
    )
    renewing = Q(current_period_index__lt=F("term_first_index") + F("plan_months_validity") - 1)
    candidates = list(
        Subscription.objects.filter(
            renewing | Q(scheduled_plan__isnull=False),
            status__in=Subscription.SERVING_STATUSES,
            next_boundary_at__lte=horizon,
        )
        .order_by()
        .values("user_id", "user__name", "user__phone", "user__credit")
        .annotate(most=Sum(most), first=Min("next_boundary_at"))
        .filter(most__gt=F("user__credit"))
        .order_by("first", "user_id")[: limit + 1]
    )
    more = len(candidates) > limit
    customers = []
    for candidate in candidates[:limit]:
        forecast = credit_forecast(user_id=candidate["user_id"], now=now, days=days)
        short = [charge for charge in forecast.charges if not charge.covered]
        if not short:
            continue
        customers.append(
            RenewalAtRisk(
                user_id=candidate["user_id"],
                name=candidate["user__name"],
                phone=str(candidate["user__phone"]),
                balance=forecast.balance,
                at=short[0].at,
                plan_name=short[0].plan_name,
                amount=short[0].amount,
                shortfall=sum((charge.amount for charge in short), ZERO),
            )
        )
    return RenewalsAtRisk(
        days=days, customers=customers, checked=min(len(candidates), limit), more=more
    )


@dataclass(frozen=True)
class Capped:
    """The first rows of a list, and how many there are in all."""

    rows: list[Any]
    total: int


def failing_endpoints(*, limit: int = LIST_LIMIT) -> Capped:
    """Webhook endpoints whose deliveries have only failed lately, or that were turned off for
    it; the longest failing first, with their failed and waiting deliveries counted."""
    failing = WebhookEndpoint.objects.filter(
        Q(failing_since__isnull=False) | Q(disabled_at__isnull=False)
    )
    rows = list(
        failing.annotate(
            failed=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.FAILED)),
            waiting=Count(
                "deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.PENDING)
            ),
            since=Case(
                When(failing_since__isnull=False, then=F("failing_since")),
                default=F("disabled_at"),
            ),
        ).order_by("since", "id")[: limit + 1]
    )
    total = len(rows) if len(rows) <= limit else failing.count()
    return Capped(rows=rows[:limit], total=total)


def billing_failures(*, limit: int = LIST_LIMIT) -> Capped:
    """Customers whose billing raised, the most recent first."""
    failures = BillingFailure.objects.select_related("user", "subscription")
    rows = list(failures.order_by("-last_failed_at", "-id")[: limit + 1])
    total = len(rows) if len(rows) <= limit else failures.count()
    return Capped(rows=rows[:limit], total=total)


# --- Scheduler health ------------------------------------------------------------------------


@dataclass(frozen=True)
class SchedulerHealth:
    leader: str  # who holds the leader lock, in words
    leading: bool
    last_run: DjangoJobExecution | None
    errors_last_day: int
    oldest_due: datetime | None  # the oldest period start or grace end billing hasn't processed
    due: int
    lag: timedelta | None
    jobs_active: int
    jobs_paused: int
    next_run: datetime | None


def _leader() -> tuple[bool, str]:
    """Whether a process holds the scheduler's leader lock, and which one, as far as can be
    told: this one, or on PostgreSQL the database session holding the advisory lock."""
    from invoices import scheduler
    from invoices.leader import ADVISORY_LOCK_KEY, FileLeaderLock

    mine = scheduler.current()
    if mine is not None and mine.is_leader:
        return True, f"this process (pid {os.getpid()})"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # pg_stat_activity is read once per transaction and kept: read it afresh.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT l.pid, host(a.client_addr), a.client_port, a.application_name,"
                " a.backend_start FROM pg_locks l"
                " JOIN pg_database d ON d.oid = l.database"
                " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = %s"
                " AND l.objsubid = 1 AND l.granted AND d.datname = current_database()",
                [ADVISORY_LOCK_KEY],
            )
            row = cursor.fetchone()
        if row is None:
            return False, "none"
        pid, address, port, application, since = row
        where = f"{address}:{port}" if address else "a local socket"
        who = f"{application}, " if application else ""
        started = timezone.localtime(since).strftime("%Y-%m-%d %H:%M") if since else "?"
        return True, f"{who}database session {pid} from {where}, connected since {started}"
    if FileLeaderLock.held_anywhere():
        return True, "another process on this machine (it holds the lock file)"
    return False, "none"


def scheduler_health(*, now: datetime) -> SchedulerHealth:
    """The leader, the last job run, billing's lag and the jobs, in four aggregate queries."""
    leading, leader = _leader()
    last_run = DjangoJobExecution.objects.order_by("-run_time", "-id").first()
    errors = DjangoJobExecution.objects.filter(
        status=DjangoJobExecution.ERROR, run_time__gte=now - timedelta(days=1)
    ).count()
    live = Subscription.objects.filter(status__in=Subscription.LIVE_STATUSES)
    due = Q(next_boundary_at__lte=now) | Q(grace_ends_at__lte=now)
    lag = live.aggregate(
        boundary=Min("next_boundary_at", filter=Q(next_boundary_at__lte=now)),
        grace=Min("grace_ends_at", filter=Q(grace_ends_at__lte=now)),
        due=Count("id", filter=due),
    )
    oldest = min((at for at in (lag["boundary"], lag["grace"]) if at is not None), default=None)
    jobs = DjangoJob.objects.aggregate(
        active=Count("id", filter=Q(next_run_time__isnull=False)),
        paused=Count("id", filter=Q(next_run_time__isnull=True)),
        next_run=Min("next_run_time"),
    )
    return SchedulerHealth(
        leader=leader,
        leading=leading,
        last_run=last_run,
        errors_last_day=errors,
        oldest_due=oldest,
        due=lag["due"],
        lag=(now - oldest) if oldest is not None else None,
        jobs_active=jobs["active"],
        jobs_paused=jobs["paused"],
        next_run=jobs["next_run"],
    )


# --- Everything ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    window: Span
    revenue_by_day: list[Point]
    revenue_by_month: list[Point]
    top_ups_by_day: list[Point]
    subscriptions: StatusHistory
    plans: list[PlanMovement]
    renewals_at_risk: RenewalsAtRisk
    failing_endpoints: Capped
    billing_failures: Capped
    scheduler: SchedulerHealth

    @property
    def revenue_total(self) -> Decimal:
        return sum((point.value for point in self.revenue_by_day), ZERO)

    @property
    def top_ups_total(self) -> Decimal:
        return sum((point.value for point in self.top_ups_by_day), ZERO)


def dashboard_figures(*, now: datetime, days: int = DEFAULT_WINDOW) -> Dashboard:
    """Every figure of the dashboard for the ``days`` days up to ``now``."""
    window = Span.ending(now=now, days=days)
    return Dashboard(
        window=window,
        revenue_by_day=revenue_by_day(window=window),
        revenue_by_month=revenue_by_month(window=window),
        top_ups_by_day=top_ups_by_day(window=window),
        subscriptions=subscription_history(window=window),
        plans=plan_movements(window=window),
        renewals_at_risk=renewals_at_risk(now=now),
        failing_endpoints=failing_endpoints(),
        billing_failures=billing_failures(),
        scheduler=scheduler_health(now=now),
    )
