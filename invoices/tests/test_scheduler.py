"""The scheduler's jobs against the database: one per live subscription, in step with it."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from apscheduler.util import obj_to_ref
from django.db import transaction
from django.utils import timezone
from django_apscheduler.models import DjangoJob

from accounts.credit import credit_top_up
from accounts.tests.factories import UserFactory
from conftest import wait_for
from events.services import event_record, event_unlisten
from invoices import billing, jobs, scheduler
from invoices.leader import FileLeaderLock, leader_lock
from invoices.models import Invoice
from plans.models import Plan
from subscriptions.models import Subscription
from subscriptions.serializers import SubscriptionSerializer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def leading():
    """This process's scheduler, leading, with a fast reconcile loop."""
    running = scheduler.start(reconcile_seconds=0.2, standby_seconds=0.1)
    assert running.wait_until_leading(15)
    yield running
    scheduler.stop()


@pytest.fixture
def customer():
    user = UserFactory()
    credit_top_up(user_id=user.pk, amount=Decimal("5000"))
    return user


@pytest.fixture
def plan():
    return Plan.objects.create(name="Bronze", amount="500.00", is_cancellable=True)


def job(subscription_id):
    return leading_scheduler().scheduler.get_job(scheduler.job_id(subscription_id))


def leading_scheduler():
    return scheduler.current()


def test_jobs_point_at_a_stable_import_path():
    # Renaming or moving these functions would make django-apscheduler delete every job.
    assert obj_to_ref(jobs.bill_subscription) == "invoices.jobs:bill_subscription"
    assert obj_to_ref(jobs.sweep) == "invoices.jobs:sweep"
    assert obj_to_ref(jobs.prune_history) == "invoices.jobs:prune_history"


def test_a_purchase_adds_a_persisted_job_at_the_next_period(leading, customer, plan):
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)

    assert wait_for(lambda: job(subscription.pk) is not None)
    assert job(subscription.pk).next_run_time == subscription.next_billing_at
    assert job(subscription.pk).func_ref == "invoices.jobs:bill_subscription"
    assert job(subscription.pk).args == (subscription.pk,)
    row = DjangoJob.objects.get(id=f"subscription-{subscription.pk}")
    assert row.next_run_time == subscription.next_billing_at


def test_pause_reactivate_and_cancel_move_the_job(leading, customer, plan):
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    assert wait_for(lambda: job(subscription.pk) is not None)

    billing.subscription_pause(user_id=customer.pk, subscription_id=subscription.pk)
    assert wait_for(lambda: job(subscription.pk).next_run_time is None)

    billing.subscription_reactivate(user_id=customer.pk, subscription_id=subscription.pk)
    assert wait_for(lambda: job(subscription.pk).next_run_time == subscription.next_billing_at)

    billing.subscription_cancel(user_id=customer.pk, subscription_id=subscription.pk)
    assert wait_for(lambda: job(subscription.pk) is None)
    assert not DjangoJob.objects.filter(id=f"subscription-{subscription.pk}").exists()


def test_a_past_due_subscription_keeps_its_job_and_a_suspended_one_pauses_it(
    leading, plan, settings
):
    settings.BILLING_GRACE_DAYS = 5
    customer = UserFactory()
    credit_top_up(user_id=customer.pk, amount=Decimal("500"))
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    renewal = subscription.next_boundary_at
    assert wait_for(lambda: job(subscription.pk) is not None)

    billing.bill_due(now=renewal)  # the credit is short: past due, still served

    subscription.refresh_from_db()
    assert (subscription.status, subscription.is_active) == ("past_due", True)
    assert wait_for(lambda: job(subscription.pk).next_run_time == subscription.next_boundary_at)

    billing.bill_due(now=renewal + timedelta(days=5))  # the grace period ended unpaid
    assert wait_for(lambda: job(subscription.pk).next_run_time is None)


def test_changes_made_by_another_process_arrive_through_the_reconcile_loop(
    leading, customer, plan, monkeypatch
):
    # Another process has no scheduler listening: only the events in the database tell.
    event_unlisten(leading.events_committed)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    started = time.monotonic()

    assert wait_for(lambda: job(subscription.pk) is not None, timeout=5)
    billing.subscription_pause(user_id=customer.pk, subscription_id=subscription.pk)
    assert wait_for(lambda: job(subscription.pk).next_run_time is None, timeout=5)
    # Measured: about one reconcile interval (0.2 s here, SCHEDULER_RECONCILE_SECONDS=2 by default).
    assert time.monotonic() - started < 5


def test_the_reconcile_loop_follows_the_events_of_other_processes(leading, customer, plan):
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    assert wait_for(lambda: job(subscription.pk) is not None)
    event_unlisten(leading.events_committed)  # what follows happens "in another process"

    # A change the reconcile loop can only learn from its event (the row's updated_at says an
    # hour ago, out of the loop's reach).
    with transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(
            status="paused", updated_at=timezone.now() - timedelta(hours=1)
        )
        subscription.refresh_from_db()
        event_record(
            type="subscription.paused",
            customer_id=customer.pk,
            data=dict(SubscriptionSerializer(subscription).data),
            occurred_at=timezone.now(),
        )

    assert wait_for(lambda: job(subscription.pk).next_run_time is None, timeout=5)


def test_start_reconciles_jobs_with_the_database(customer, plan, settings):
    settings.BILLING_DAY_SECONDS = 3600
    active = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    paused = billing.subscription_purchase(
        user_id=customer.pk, plan_id=Plan.objects.create(name="B", amount="1.00").pk
    )
    billing.subscription_pause(user_id=customer.pk, subscription_id=paused.pk)
    ended = billing.subscription_purchase(
        user_id=customer.pk,
        plan_id=Plan.objects.create(name="C", amount="1.00", is_cancellable=True).pk,
    )
    billing.subscription_cancel(user_id=customer.pk, subscription_id=ended.pk)

    running = scheduler.start(reconcile_seconds=0.2, standby_seconds=0.1)
    try:
        assert running.wait_until_in_step(15)
        ids = {row.id: row.next_run_time for row in DjangoJob.objects.all()}
    finally:
        scheduler.stop()

    assert ids[f"subscription-{active.pk}"] == active.next_billing_at
    assert ids[f"subscription-{paused.pk}"] is None
    assert f"subscription-{ended.pk}" not in ids
    assert {scheduler.SWEEP_JOB_ID, scheduler.PRUNE_JOB_ID} <= set(ids)


def test_a_stale_job_bills_nothing_that_is_not_due(customer, plan):
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    billing.subscription_pause(user_id=customer.pk, subscription_id=subscription.pk)

    for _ in range(3):  # fired late, twice, while paused: nothing is due
        jobs.bill_subscription(subscription.pk)

    assert Invoice.objects.filter(subscription=subscription).count() == 1


def test_health_reports_the_running_scheduler(api_client, leading):
    assert api_client.get("/api/v1/health/").json()["scheduler"] == "running"


def test_health_reports_no_scheduler(api_client):
    assert api_client.get("/api/v1/health/").json()["scheduler"] == "stopped"


def test_the_scheduler_starts_once_per_process(leading):
    assert scheduler.start() is leading


def test_two_schedulers_never_lead_at_once_and_one_takes_over():
    first = scheduler.BillingScheduler(reconcile_seconds=0.2, standby_seconds=0.1)
    second = scheduler.BillingScheduler(reconcile_seconds=0.2, standby_seconds=0.1)
    both = threading.Event()
    watching = threading.Event()

    def watch():
        while not watching.is_set():
            if first.is_leader and second.is_leader:
                both.set()
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    first.start_in_background()
    try:
        assert first.wait_until_leading(15)
        second.start_in_background()
        time.sleep(1)
        assert not second.is_leader

        first.stop()  # the leader goes away: its lock with it

        assert second.wait_until_leading(15)
    finally:
        first.stop()
        second.stop()
        watching.set()
        watcher.join()
    assert not both.is_set()


def test_the_file_lock_is_exclusive(tmp_path):
    path = tmp_path / "scheduler.lock"
    one, two = FileLeaderLock(path), FileLeaderLock(path)

    assert one.acquire()
    assert not two.acquire()
    one.release()
    assert two.acquire()
    two.release()


def test_leader_lock_matches_the_database(db):
    from django.db import connection

    lock = leader_lock()
    expected = "PostgresLeaderLock" if connection.vendor == "postgresql" else "FileLeaderLock"
    assert type(lock).__name__ == expected


def test_prune_forgets_old_executions_and_keys(customer):
    from django_apscheduler.models import DjangoJobExecution

    row = DjangoJob.objects.create(id="x", next_run_time=None, job_state=b"")
    DjangoJobExecution.objects.create(
        job=row, status="Executed", run_time=timezone.now() - timedelta(days=8)
    )
    DjangoJobExecution.objects.create(job=row, status="Executed", run_time=timezone.now())

    jobs.prune_history()

    assert DjangoJobExecution.objects.count() == 1


def test_a_failing_job_does_not_stop_the_scheduler(leading, customer, plan, monkeypatch):
    from django_apscheduler.models import DjangoJobExecution

    broken = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    healthy = billing.subscription_purchase(
        user_id=customer.pk, plan_id=Plan.objects.create(name="Other", amount="1.00").pk
    )
    assert wait_for(lambda: job(broken.pk) is not None and job(healthy.pk) is not None)
    real_bill = billing.subscription_bill

    def bill(*, subscription_id, now=None):
        if subscription_id == broken.pk:
            raise RuntimeError("a bug in one subscription")
        return real_bill(subscription_id=subscription_id, now=now)

    monkeypatch.setattr(billing, "subscription_bill", bill)
    for subscription in (broken, healthy):  # make both jobs fire now
        leading.scheduler.modify_job(
            scheduler.job_id(subscription.pk), next_run_time=timezone.now()
        )

    def outcome(subscription):
        return set(
            DjangoJobExecution.objects.filter(job_id=scheduler.job_id(subscription.pk)).values_list(
                "status", flat=True
            )
        )

    assert wait_for(lambda: DjangoJobExecution.ERROR in outcome(broken))
    assert wait_for(lambda: DjangoJobExecution.SUCCESS in outcome(healthy))
    assert leading.scheduler.running and leading.is_leader


def test_runscheduler_runs_in_the_foreground_until_stopped():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    thread = threading.Thread(target=call_command, args=("runscheduler",), kwargs={"stdout": out})
    thread.start()
    try:
        assert wait_for(lambda: scheduler.current() is not None, timeout=5)
        assert scheduler.current().wait_until_leading(15)
    finally:
        scheduler.current().stop(wait=False)
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert "Invoice scheduler stopped." in out.getvalue()
    assert scheduler.current() is None


# --- Changes of plan: the job follows the new term ---------------------------------------------


@pytest.fixture
def weekly():
    return Plan.objects.create(
        name="Weekly", amount="99.99", payment_cycle=7, total_valid_months=4, is_cancellable=True
    )


def assert_job_follows(subscription):
    """The subscription's job runs at its current term's period starts, next at the next one."""
    current = job(subscription.pk)
    assert scheduler._trigger_follows(current.trigger, subscription)
    assert current.trigger.interval == subscription.period_length
    assert current.trigger.start_date == subscription.term_start_at
    assert current.next_run_time == subscription.next_billing_at
    assert (current.func_ref, current.args) == (
        "invoices.jobs:bill_subscription",
        (subscription.pk,),
    )
    # And the run after that is the new term's following period start.
    later = current.trigger.get_next_fire_time(current.next_run_time, current.next_run_time)
    assert later == subscription.period_start(subscription.current_period_index + 2)
    row = DjangoJob.objects.get(id=scheduler.job_id(subscription.pk))
    assert row.next_run_time == subscription.next_billing_at


def follows(subscription):
    current = job(subscription.pk)
    return current is not None and scheduler._trigger_follows(current.trigger, subscription)


def test_a_change_now_moves_the_job_to_the_new_terms_period_starts(leading, customer, plan, weekly):
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    assert wait_for(lambda: job(subscription.pk) is not None)
    assert job(subscription.pk).trigger.interval == timedelta(days=30)

    subscription, _, quote = billing.subscription_plan_change(
        user_id=customer.pk, subscription_id=subscription.pk, plan_id=weekly.pk, timing="now"
    )

    assert wait_for(lambda: follows(subscription))
    assert_job_follows(subscription)
    assert job(subscription.pk).trigger.interval == timedelta(days=7)
    assert job(subscription.pk).next_run_time == quote.next_billing_at


@pytest.fixture
def deaf():
    """A leading scheduler that hears of no change: only a full reconcile brings jobs in step."""
    running = scheduler.start(reconcile_seconds=3600, standby_seconds=0.1)
    assert running.wait_until_leading(15)
    yield running
    scheduler.stop()


def test_reconcile_all_replaces_a_job_left_on_the_old_term(deaf, customer, plan, weekly):
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    assert wait_for(lambda: job(subscription.pk) is not None)
    event_unlisten(deaf.events_committed)  # the change is made "in another process"

    subscription, _, _ = billing.subscription_plan_change(
        user_id=customer.pk, subscription_id=subscription.pk, plan_id=weekly.pk, timing="now"
    )
    time.sleep(0.3)
    assert not follows(subscription)  # still the old plan's 30-day job

    deaf.reconcile_all()

    assert_job_follows(subscription)


def test_a_change_applied_at_the_period_start_leaves_the_job_on_the_new_term(
    leading, customer, plan, weekly
):
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    boundary = subscription.next_boundary_at
    billing.subscription_plan_change(
        user_id=customer.pk, subscription_id=subscription.pk, plan_id=weekly.pk, timing="period_end"
    )
    assert wait_for(lambda: job(subscription.pk) is not None)
    assert job(subscription.pk).next_run_time == boundary  # the change waits for it

    billing.bill_due(now=boundary)  # the boundary's run: the new plan starts and is paid

    subscription.refresh_from_db()
    assert (subscription.plan_id, subscription.term_start_at) == (weekly.pk, boundary)
    assert subscription.next_billing_at == boundary + timedelta(days=7)
    assert wait_for(lambda: follows(subscription))
    assert_job_follows(subscription)
    paid = Invoice.objects.filter(subscription=subscription, plan=weekly, status="paid")
    assert list(paid.values_list("period_start", flat=True)) == [boundary]


# --- The start: billing runs first, the full reconcile follows ------------------------------------


def test_billing_runs_while_the_start_brings_the_other_jobs_in_step(customer, plan, monkeypatch):
    kept = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    ended = billing.subscription_purchase(
        user_id=customer.pk, plan_id=Plan.objects.create(name="B", amount="1.00").pk
    )
    first = scheduler.start(reconcile_seconds=0.2, standby_seconds=0.1)
    assert first.wait_until_in_step(15)
    scheduler.stop()
    # Changed while no scheduler ran: its job is still stored, paused by nothing.
    Subscription.objects.filter(pk=ended.pk).update(status="cancelled", next_boundary_at=None)
    invoices = Invoice.objects.count()
    credit = customer.credit_transactions.count()

    reconciling, finish = threading.Event(), threading.Event()
    real_reconcile_all = scheduler.BillingScheduler.reconcile_all

    def slow_reconcile_all(self):
        reconciling.set()
        assert finish.wait(15)
        return real_reconcile_all(self)

    monkeypatch.setattr(scheduler.BillingScheduler, "reconcile_all", slow_reconcile_all)
    running = scheduler.start(reconcile_seconds=0.2, standby_seconds=0.1)
    try:
        assert running.wait_until_leading(15) and reconciling.wait(15)
        assert not running.in_step.is_set()
        # The stale job fires before the reconcile reaches it: it bills nothing.
        running.scheduler.modify_job(scheduler.job_id(ended.pk), next_run_time=timezone.now())
        assert wait_for(lambda: ran(ended) == {"Executed"})
        assert (Invoice.objects.count(), customer.credit_transactions.count()) == (
            invoices,
            credit,
        )

        finish.set()
        assert running.wait_until_in_step(15)
        assert job(ended.pk) is None
        assert job(kept.pk).next_run_time == kept.next_billing_at
    finally:
        finish.set()
        scheduler.stop()


def ran(subscription):
    from django_apscheduler.models import DjangoJobExecution

    executions = DjangoJobExecution.objects.filter(job_id=scheduler.job_id(subscription.pk))
    return set(executions.values_list("status", flat=True))
