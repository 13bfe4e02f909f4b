"""Each figure of the dashboard against the rows it sums (the business of conftest.Business)."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from accounts.models import CreditTransaction
from dashboard import selectors
from dashboard.selectors import Span, dashboard_figures, renewals_at_risk, window_days
from events.models import Event
from invoices import billing
from invoices import scheduler as invoice_scheduler
from invoices.leader import leader_lock
from invoices.models import BillingFailure, Invoice
from subscriptions.models import Subscription
from webhooks.models import WebhookDelivery, WebhookEndpoint

from .conftest import DAY, NOW, ago, top_up

pytestmark = pytest.mark.django_db

D = Decimal


def nonzero(points) -> dict[date, Decimal]:
    return {point.day: point.value for point in points if point.value}


def on(days_ago: int) -> date:
    return (NOW - days_ago * DAY).date()


def test_a_window_is_the_last_days_up_to_now_today_included():
    span = Span.ending(now=NOW, days=7)

    assert span.dates == [date(2021, 12, 14) + timedelta(days=n) for n in range(7)]
    assert span.start == datetime(2021, 12, 14, tzinfo=UTC)
    assert span.months == [date(2021, 12, 1)]
    assert Span.ending(now=NOW, days=30).months == [date(2021, 11, 1), date(2021, 12, 1)]


@pytest.mark.parametrize(
    ("asked", "window"),
    [("7", 7), ("30", 30), ("90", 90), ("365", 365), (None, 30), ("31", 30), ("x", 30)],
)
def test_the_window_is_one_of_four_and_30_days_otherwise(asked, window):
    assert window_days(asked) == window


def test_revenue_per_day_is_the_paid_invoices_by_the_day_they_were_paid(business):
    figures = dashboard_figures(now=NOW, days=30)

    assert nonzero(figures.revenue_by_day) == {
        on(27): D("500.00"),  # emon buys Bronze
        on(25): D("1200.00"),  # chitra buys Gold
        on(20): D("500.00"),  # bashir buys Bronze
        on(10): D("500.00"),  # amina's renewal
        on(6): D("150.00"),  # farid buys Weekly
        on(2): D("500.00"),  # dipu's suspended renewal, paid by the top-up
    }
    assert figures.revenue_total == D("3350.00")
    # The same, summed from the rows by hand.
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    window_start = datetime(2021, 11, 21, tzinfo=UTC)
    for invoice in Invoice.objects.filter(status="paid", paid_at__gte=window_start):
        by_day[invoice.paid_at.date()] += invoice.amount
    assert nonzero(figures.revenue_by_day) == by_day
    assert len(figures.revenue_by_day) == 30
    assert [p.count for p in figures.revenue_by_day if p.value] == [1, 1, 1, 1, 1, 1]


def test_revenue_per_month_covers_each_month_the_window_touches_whole(business):
    figures = dashboard_figures(now=NOW, days=30)

    # November: amina (Nov 10) and dipu (Nov 15), before the window, count in their month.
    assert [(p.day, p.value, p.count) for p in figures.revenue_by_month] == [
        (date(2021, 11, 1), D("3200.00"), 5),
        (date(2021, 12, 1), D("1150.00"), 3),
    ]
    assert [p.day for p in dashboard_figures(now=NOW, days=7).revenue_by_month] == [
        date(2021, 12, 1)
    ]


def test_top_ups_per_day_are_the_ledgers_top_ups(business):
    figures = dashboard_figures(now=NOW, days=30)

    assert nonzero(figures.top_ups_by_day) == {
        on(27): D("500.00"),
        on(25): D("1200.00"),
        on(20): D("500.00"),
        on(6): D("300.00"),
        on(2): D("500.00"),
    }
    assert figures.top_ups_total == D("3000.00")
    in_window = CreditTransaction.objects.filter(kind="top_up", created_at__gte=ago(29))
    assert figures.top_ups_total == sum((t.amount for t in in_window), D("0"))


def test_subscriptions_by_status_at_the_end_of_each_day(business):
    history = dashboard_figures(now=NOW, days=30).subscriptions

    def at(days_ago: int) -> dict[str, int]:
        index = history.dates.index(on(days_ago))
        return {status: values[index] for status, values in history.by_status.items()}

    none = {"active": 0, "past_due": 0, "paused": 0, "suspended": 0}
    assert at(29) == {**none, "active": 2}  # amina, dipu
    assert at(27) == {**none, "active": 3}  # + emon
    assert at(6) == {**none, "active": 6}  # + chitra, bashir, farid
    assert at(5) == {**none, "active": 4, "paused": 1, "suspended": 1}  # bashir, dipu
    assert at(3) == {**none, "active": 3, "paused": 1, "suspended": 1}  # chitra cancelled
    assert at(2) == {**none, "active": 4, "paused": 1}  # dipu resumed
    # Today's figures are the subscriptions table's.
    for status, values in history.by_status.items():
        assert values[-1] == Subscription.objects.filter(status=status).count()


def test_status_history_counts_subscriptions_older_than_their_events(business):
    # A subscription whose events are gone (or predate the outbox) still counts as it is now.
    Event.objects.filter(customer=business.amina).update(type="credit.adjusted")

    history = dashboard_figures(now=NOW, days=30).subscriptions

    assert history.by_status["active"][-1] == 4
    assert history.by_status["active"][history.dates.index(on(29))] == 2


def test_a_past_due_subscription_is_charted_past_due_until_suspended(business, settings):
    settings.BILLING_GRACE_DAYS = 3
    top_up(business.emon, "0.01", ago(1))  # 0.01: still short at the renewal (+3)
    later = NOW + 4 * DAY  # the renewal at +3 went past due; its grace ends at +6

    billing.bill_due(now=later)
    history = dashboard_figures(now=later, days=7).subscriptions

    assert history.by_status["past_due"][-2:] == [1, 1]
    assert history.by_status["past_due"][:-2] == [0] * 5


def test_suspensions_and_resumptions_per_day(business):
    history = dashboard_figures(now=NOW, days=30).subscriptions

    assert nonzero(history.suspensions) == {on(5): 1}  # dipu's renewal
    assert nonzero(history.resumptions) == {on(2): 1}  # dipu's top-up
    # Bashir's pause is not a suspension, nor would his resumption be a resumption after a
    # top-up: only suspended → active counts.
    billing.subscription_reactivate(
        user_id=business.bashir.pk,
        subscription_id=Subscription.objects.get(user=business.bashir).pk,
        now=NOW,
    )
    assert nonzero(dashboard_figures(now=NOW, days=30).subscriptions.resumptions) == {on(2): 1}


def test_new_subscriptions_and_churn_per_plan(business):
    later = ago(0) + 200 * DAY  # amina's Bronze (12 x 30 days from day -40) has expired

    figures = dashboard_figures(now=NOW, days=30)
    plans = {p.plan_name: (p.new, p.cancelled, p.expired, p.churn) for p in figures.plans}

    assert plans == {
        "Globalnet Bronze": (2, 0, 0, 0),  # emon, bashir (amina and dipu bought earlier)
        "Globalnet Gold": (1, 1, 0, 1),  # chitra bought it and cancelled it
        "Globalnet Weekly": (1, 0, 0, 0),  # farid
    }
    billing.bill_due(now=later)  # farid's Weekly (6 weeks) expires, amongst others
    figures = dashboard_figures(now=later, days=365)
    plans = {p.plan_name: (p.new, p.cancelled, p.expired) for p in figures.plans}
    ended = Subscription.objects.filter(status="expired", ended_at__gte=ago(0) - 165 * DAY)
    assert plans["Globalnet Weekly"] == (1, 0, 1)
    assert plans["Globalnet Gold"] == (1, 1, 0)
    assert sum(expired for _, _, expired in plans.values()) == ended.count()


def test_days_follow_the_server_time_zone(business, settings):
    settings.TIME_ZONE = "Asia/Dhaka"  # UTC+6
    customer = business.farid
    top_up(customer, "100", datetime(2021, 12, 19, 19, 0, tzinfo=UTC))  # Dec 20, 01:00 in Dhaka

    figures = dashboard_figures(now=NOW, days=7)

    assert nonzero(figures.top_ups_by_day)[date(2021, 12, 20)] == D("100.00")
    assert date(2021, 12, 19) not in nonzero(figures.top_ups_by_day)


def test_renewals_at_risk_are_the_customers_the_forecast_finds_short(business):
    risk = renewals_at_risk(now=NOW)

    # emon renews Bronze at +3 with nothing left; farid's Weekly at +1 is covered (150 left)
    # and the next is past the 7 days; amina, dipu and bashir renew later or are paused.
    assert [(r.name, r.at, r.plan_name, r.amount, r.balance) for r in risk.customers] == [
        ("Emon", NOW + 3 * DAY, "Globalnet Bronze", D("500.00"), D("0.00"))
    ]
    assert risk.customers[0].shortfall == D("500.00")
    assert risk.checked == 2  # farid was a candidate (2 x 150 > 150): the forecast cleared him
    assert risk.more is False


def test_renewals_at_risk_check_the_earliest_candidates_only(business):
    risk = renewals_at_risk(now=NOW, limit=1)

    assert risk.checked == 1 and risk.more is True
    assert risk.customers == []  # farid, the earliest (+1), is covered; emon was not checked


def test_renewals_at_risk_count_every_short_charge_of_the_coming_days(business):
    top_up(business.farid, "10", NOW)  # 160: the Weekly at +1 is covered, the one at +8 isn't

    risk = renewals_at_risk(now=NOW, days=10)

    farid = next(r for r in risk.customers if r.name == "Farid")
    assert (farid.at, farid.amount, farid.shortfall) == (NOW + 8 * DAY, D("150.00"), D("150.00"))


def failing_setup(business) -> tuple[WebhookEndpoint, WebhookEndpoint, WebhookEndpoint]:
    events = list(Event.objects.order_by("id")[:3])
    healthy = WebhookEndpoint.objects.create(url="https://ok.example/hooks", secret="whsec_a")
    failing = WebhookEndpoint.objects.create(
        url="https://down.example/hooks", secret="whsec_b", failing_since=ago(1)
    )
    off = WebhookEndpoint.objects.create(
        url="https://gone.example/hooks",
        secret="whsec_c",
        is_active=False,
        failing_since=ago(4),
        disabled_at=ago(1),
        disabled_reason="Only failures for 3 days",
    )
    WebhookDelivery.objects.create(event=events[0], endpoint=failing, status="failed")
    WebhookDelivery.objects.create(event=events[1], endpoint=failing, status="pending")
    WebhookDelivery.objects.create(event=events[2], endpoint=failing, status="pending")
    WebhookDelivery.objects.create(event=events[0], endpoint=healthy, status="succeeded")
    WebhookDelivery.objects.create(event=events[0], endpoint=off, status="failed")
    return healthy, failing, off


def test_failing_webhook_endpoints_longest_failing_first(business):
    _, failing, off = failing_setup(business)

    listed = dashboard_figures(now=NOW, days=30).failing_endpoints

    assert listed.total == 2
    assert [(e.url, e.failed, e.waiting) for e in listed.rows] == [
        (off.url, 1, 0),
        (failing.url, 1, 2),
    ]


def test_the_action_lists_are_capped_with_their_totals(business):
    for n in range(5):
        WebhookEndpoint.objects.create(
            url=f"https://down{n}.example/", secret="whsec_x", failing_since=ago(n + 1)
        )

    listed = selectors.failing_endpoints(limit=3)

    assert listed.total == 5
    assert [e.url for e in listed.rows] == [f"https://down{n}.example/" for n in (4, 3, 2)]


def test_customers_whose_billing_failed_most_recent_first(business):
    BillingFailure.objects.create(
        user=business.bashir,
        error="IntegrityError: boom",
        attempts=3,
        first_failed_at=ago(2),
        last_failed_at=ago(1),
    )
    BillingFailure.objects.create(
        user=business.amina,
        subscription=Subscription.objects.get(user=business.amina),
        error="ValueError: bad",
        first_failed_at=ago(1),
        last_failed_at=NOW,
    )

    listed = dashboard_figures(now=NOW, days=30).billing_failures

    assert listed.total == 2
    assert [(f.user.name, f.attempts) for f in listed.rows] == [("Amina", 1), ("Bashir", 3)]


def test_scheduler_health_counts_jobs_runs_and_the_billing_lag(business):
    DjangoJob.objects.create(id="subscription-1", next_run_time=NOW + DAY, job_state=b"")
    DjangoJob.objects.create(id="subscription-2", next_run_time=NOW + 2 * DAY, job_state=b"")
    DjangoJob.objects.create(id="subscription-3", next_run_time=None, job_state=b"")
    run = dict(job_id="subscription-1", status=DjangoJobExecution.SUCCESS, duration=D("0.25"))
    DjangoJobExecution.objects.create(run_time=NOW - timedelta(hours=3), **run)
    DjangoJobExecution.objects.create(run_time=NOW - timedelta(minutes=5), **run)
    DjangoJobExecution.objects.create(
        job_id="subscription-2", status=DjangoJobExecution.ERROR, run_time=ago(2)
    )
    DjangoJobExecution.objects.create(
        job_id="subscription-2", status=DjangoJobExecution.ERROR, run_time=NOW - timedelta(hours=1)
    )
    later = NOW + 4 * DAY  # farid's Weekly renewed at +1, emon's Bronze at +3: unprocessed

    health = dashboard_figures(now=later, days=7).scheduler

    assert (health.jobs_active, health.jobs_paused, health.next_run) == (2, 1, NOW + DAY)
    assert health.last_run.run_time == NOW - timedelta(minutes=5)
    assert health.errors_last_day == 0  # as of `later`: both errors are older than a day
    assert dashboard_figures(now=NOW, days=7).scheduler.errors_last_day == 1
    assert (health.due, health.oldest_due, health.lag) == (2, NOW + DAY, 3 * DAY)
    billing.bill_due(now=later)
    assert dashboard_figures(now=later, days=7).scheduler.lag is None


def test_billing_lag_counts_a_grace_period_that_ended(business, settings):
    settings.BILLING_GRACE_DAYS = 2
    billing.bill_due(now=NOW + 3 * DAY)  # emon's renewal at +3: past due until +5

    health = dashboard_figures(now=NOW + 6 * DAY, days=7).scheduler

    assert health.oldest_due == NOW + 5 * DAY  # farid's next Weekly (+8) is not due yet
    assert health.due == 1


def test_the_leader_is_this_process_another_one_or_none(business, monkeypatch):
    assert selectors._leader() == (False, "none")

    lock = leader_lock()  # held from a connection or a file of its own, as by another process
    assert lock.acquire()
    try:
        leading, who = selectors._leader()
        assert leading
        if connection.vendor == "postgresql":  # the session holding the advisory lock
            assert re.fullmatch(r"database session \d+ from .+, connected since .+", who), who
        else:
            assert who == "another process on this machine (it holds the lock file)"
    finally:
        lock.release()

    class Leading:
        is_leader = True

    monkeypatch.setattr(invoice_scheduler, "_current", Leading())
    leading, who = selectors._leader()
    assert leading and who.startswith("this process (pid ")


def test_figures_read_the_current_time_zone_once_per_call(business):
    # The window's days and the database's days agree at a midnight in another zone.
    with timezone.override("Asia/Dhaka"):
        figures = dashboard_figures(now=datetime(2021, 12, 19, 18, 30, tzinfo=UTC), days=7)
    assert figures.window.dates[-1] == date(2021, 12, 20)


def test_status_history_agrees_with_replaying_every_event_of_a_demo_business(db):
    call_command("load_demo_business", customers=12, days=45, seed=3, stdout=io.StringIO())
    now = timezone.now()

    history = dashboard_figures(now=now, days=30).subscriptions

    # Forward, by hand: each subscription's status is that of its last event by each day's end.
    events = Event.objects.filter(type__startswith="subscription.").order_by(
        "customer_id", "sequence"
    )
    for index, day in enumerate(history.dates):
        end = datetime.combine(day + DAY, datetime.min.time(), tzinfo=UTC)
        last: dict[int, str] = {}
        for event in events:
            if event.occurred_at < end:
                last[event.data["id"]] = event.data["status"]
        for status, values in history.by_status.items():
            assert values[index] == list(last.values()).count(status), (day, status)
    assert sum(history.by_status["active"]) > 0
