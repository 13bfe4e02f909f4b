"""
The scheduler's reconcile at a few thousand subscriptions: in pages, jobs created and removed in
bulk, byte for byte the rows APScheduler's ``add_job`` writes; queries bounded per page, memory
not growing with the number of subscriptions, no job list unpickled whole.
"""

from __future__ import annotations

import random
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from django.db import connection, transaction
from django_apscheduler.jobstores import DjangoJobStore
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from accounts.models import User
from invoices import jobs, scheduler
from plans.models import Plan
from subscriptions.models import Subscription

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PERIOD = timedelta(days=30)
LIVE = ("active", "past_due", "paused", "suspended")


class HeldLock:
    def acquire(self) -> bool:
        return True

    def still_held(self) -> bool:
        return True

    def release(self) -> None:
        pass


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def billing_scheduler():
    """A scheduler on the database's job store, started paused (nothing runs): the state the
    leader reconciles in before it resumes."""
    running = scheduler.BillingScheduler(lock=HeldLock())
    running.scheduler = scheduler.make_scheduler()
    running.scheduler.start(paused=True)
    yield running
    running.scheduler.shutdown(wait=False)


@pytest.fixture
def plan():
    return Plan.objects.create(name="Bronze", amount=Decimal("500.00"))


def subscribe(plan, count, *, statuses=("active",), first=0, seed=1):
    """``count`` customers with a subscription each, their terms started at different moments
    of the last period, statuses taken in turn from ``statuses``."""
    rng = random.Random(seed)  # noqa: S311 (spread start times, not secrets)
    users = User.objects.bulk_create(
        User(phone=f"+88019{n:08d}", name=f"Customer {n}", credit=0)
        for n in range(first, first + count)
    )
    subscriptions = []
    for n, user in enumerate(users):
        start = NOW - timedelta(seconds=rng.randrange(60, int(PERIOD.total_seconds())))
        if n % 2:  # half of them with a fraction of a second, the others without
            start -= timedelta(microseconds=rng.randrange(1, 1_000_000))
        subscriptions.append(
            Subscription(
                user=user,
                plan=plan,
                plan_name=plan.name,
                plan_amount=plan.amount,
                plan_payment_cycle=30,
                plan_months_validity=12,
                plan_cancellable=True,
                period_seconds=int(PERIOD.total_seconds()),
                status=statuses[n % len(statuses)],
                start_at=start,
                term_start_at=start,
                end_at=start + 12 * PERIOD,
                next_boundary_at=start + PERIOD,
                created_at=start,
            )
        )
    return Subscription.objects.bulk_create(subscriptions)


def jobs_by_subscription():
    rows = DjangoJob.objects.filter(id__startswith=scheduler.JOB_PREFIX)
    return {
        int(row_id.removeprefix(scheduler.JOB_PREFIX)): next_run
        for row_id, next_run in rows.values_list("id", "next_run_time")
    }


def wanted(subscription):
    return subscription.next_boundary_at if subscription.is_active else None


def add_job_the_apscheduler_way(running, subscription):
    """What the scheduler did before the reconcile went in bulk: one ``add_job`` per job."""
    running.scheduler.add_job(
        jobs.bill_subscription,
        IntervalTrigger(
            seconds=subscription.period_seconds,
            start_date=subscription.term_start_at,
            end_date=subscription.end_at,
            timezone=UTC,
        ),
        args=[subscription.pk],
        id=scheduler.job_id(subscription.pk),
        name=f"Bill subscription {subscription.pk} ({subscription.plan_name})",
        next_run_time=wanted(subscription),
        replace_existing=True,
    )


def test_a_first_reconcile_gives_every_live_subscription_its_job_in_pages(
    billing_scheduler, plan, monkeypatch
):
    monkeypatch.setattr(scheduler, "PAGE_SIZE", 700)
    statuses = ("active", "active", "paused", "past_due", "suspended", "cancelled", "expired")
    subscriptions = subscribe(plan, 3000, statuses=statuses)

    report = billing_scheduler.reconcile_all()

    live = [s for s in subscriptions if s.status in LIVE]
    assert jobs_by_subscription() == {s.pk: wanted(s) for s in live}
    assert report.added == len(live) and report.changed == len(live)
    # Active ones run at their next period start; paused and suspended ones are paused.
    job = billing_scheduler.scheduler.get_job(scheduler.job_id(live[0].pk))
    assert job.next_run_time == live[0].next_boundary_at
    assert job.trigger.start_date == live[0].term_start_at
    assert job.trigger.interval == PERIOD and job.trigger.end_date == live[0].end_at
    assert job.args == (live[0].pk,) and job.func is jobs.bill_subscription
    assert job.misfire_grace_time is None and job.coalesce and job.max_instances == 1
    paused = next(s for s in live if s.status == "paused")
    assert billing_scheduler.scheduler.get_job(scheduler.job_id(paused.pk)).next_run_time is None

    # A second pass finds everything in step and writes nothing.
    assert billing_scheduler.reconcile_all().changed == 0


def test_bulk_rows_are_byte_for_byte_what_add_job_stores(billing_scheduler, plan):
    subscriptions = subscribe(plan, 40, statuses=("active", "paused", "past_due", "suspended"))
    billing_scheduler.reconcile_all()
    bulk = dict(DjangoJob.objects.values_list("id", "job_state"))
    bulk_next = dict(DjangoJob.objects.values_list("id", "next_run_time"))
    DjangoJob.objects.all().delete()

    for subscription in subscriptions:
        add_job_the_apscheduler_way(billing_scheduler, subscription)

    assert {k: bytes(v) for k, v in DjangoJob.objects.values_list("id", "job_state")} == {
        k: bytes(v) for k, v in bulk.items()
    }
    assert dict(DjangoJob.objects.values_list("id", "next_run_time")) == bulk_next


def stored_bytes(subscription):
    return bytes(DjangoJob.objects.get(id=scheduler.job_id(subscription.pk)).job_state)


# Each way a stored job can stop following its subscription's term while its next run stays
# right: only its trigger (start, period, end) or its name differs.
DRIFTS = {
    # The same period starts, counted from a period earlier.
    "term_start_at": lambda s: {"term_start_at": s.term_start_at - PERIOD},
    # Periods half as long: the next run is the same, every later one is not.
    "period_seconds": lambda s: {"period_seconds": s.period_seconds // 2},
    "end_at": lambda s: {"end_at": s.end_at + PERIOD},
    "plan_name": lambda s: {"plan_name": "Silver"},
}


@pytest.mark.parametrize("drift", DRIFTS)
def test_a_job_that_no_longer_follows_its_term_is_replaced(billing_scheduler, plan, drift):
    subscription, *others = subscribe(plan, 4, statuses=("active", "paused"))
    billing_scheduler.reconcile_all()
    untouched = {other.pk: stored_bytes(other) for other in others}
    Subscription.objects.filter(pk=subscription.pk).update(**DRIFTS[drift](subscription))

    report = billing_scheduler.reconcile_all()

    assert (report.replaced, report.changed) == (1, 1)
    subscription.refresh_from_db()
    repaired = stored_bytes(subscription)
    add_job_the_apscheduler_way(billing_scheduler, subscription)
    assert stored_bytes(subscription) == repaired  # what add_job makes for the new term
    assert {other.pk: stored_bytes(other) for other in others} == untouched
    assert billing_scheduler.reconcile_all().changed == 0


def test_a_change_to_a_plan_of_the_same_cycle_at_the_period_end_gets_the_new_terms_job(
    billing_scheduler, plan
):
    # The new term's period starts fall where the old job's would: only its end (a new
    # validity from the change) and its name tell the old job from the new term's.
    from accounts.credit import credit_top_up
    from invoices import billing

    gold = Plan.objects.create(name="Gold", amount=Decimal("700.00"), total_valid_months=24)
    customer = User.objects.create(phone="+8801900000000", name="Customer", credit=0)
    credit_top_up(user_id=customer.pk, amount=Decimal("5000"))
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    billing.subscription_plan_change(
        user_id=customer.pk, subscription_id=subscription.pk, plan_id=gold.pk, timing="period_end"
    )
    billing_scheduler.reconcile_all()
    boundary = subscription.next_boundary_at
    billing.bill_due(now=boundary)  # the boundary's run: the new plan's term starts
    # ... and, as after that run, the old job's next run moved one old period on.
    billing_scheduler.scheduler.modify_job(
        scheduler.job_id(subscription.pk), next_run_time=boundary + PERIOD
    )
    subscription.refresh_from_db()
    assert (subscription.plan_name, subscription.next_boundary_at) == ("Gold", boundary + PERIOD)

    report = billing_scheduler.reconcile_all()

    assert report.replaced == 1
    job = billing_scheduler.scheduler.get_job(scheduler.job_id(subscription.pk))
    assert job.name == f"Bill subscription {subscription.pk} (Gold)"
    assert (job.trigger.start_date, job.trigger.end_date) == (boundary, subscription.end_at)
    assert job.next_run_time == boundary + PERIOD


def test_a_reconcile_inside_a_transaction_sees_its_writes(billing_scheduler, plan):
    # Pages are read ahead on a connection of their own, except inside a transaction.
    with transaction.atomic():
        subscriptions = subscribe(plan, 5)
        assert billing_scheduler.reconcile_all().added == len(subscriptions)


def test_jobs_made_one_at_a_time_are_found_in_step(billing_scheduler, plan):
    # A job store written by the scheduler before the bulk reconcile needs no rewriting.
    subscriptions = subscribe(plan, 30, statuses=("active", "paused"))
    for subscription in subscriptions:
        add_job_the_apscheduler_way(billing_scheduler, subscription)

    assert billing_scheduler.reconcile_all().changed == 0


def test_jobs_of_subscriptions_no_longer_live_are_removed_with_their_history(
    billing_scheduler, plan, monkeypatch
):
    monkeypatch.setattr(scheduler, "PAGE_SIZE", 300)
    subscriptions = subscribe(plan, 1000)
    billing_scheduler.reconcile_all()
    billing_scheduler.scheduler.add_job(jobs.sweep, "interval", hours=1, id=scheduler.SWEEP_JOB_ID)
    ended = subscriptions[::7]
    Subscription.objects.filter(pk__in=[s.pk for s in ended]).update(status="cancelled")
    gone = subscriptions[5]
    DjangoJobExecution.objects.create(
        job_id=scheduler.job_id(gone.pk), status=DjangoJobExecution.SUCCESS, run_time=NOW
    )
    Subscription.objects.filter(pk=gone.pk).delete()
    # A job left behind by a subscription that no longer exists, with an id it never had.
    DjangoJob.objects.create(id=f"{scheduler.JOB_PREFIX}999999", job_state=b"")

    report = billing_scheduler.reconcile_all()

    kept = {s.pk for s in subscriptions} - {s.pk for s in ended} - {gone.pk}
    assert set(jobs_by_subscription()) == kept
    assert report.removed == len({s.pk for s in ended} | {gone.pk}) + 1
    assert not DjangoJobExecution.objects.exists()
    assert DjangoJob.objects.filter(id=scheduler.SWEEP_JOB_ID).exists()  # not a subscription's


def test_the_reconcile_moves_pauses_and_replaces_what_changed(billing_scheduler, plan):
    subscriptions = subscribe(plan, 12, statuses=("active",))
    billing_scheduler.reconcile_all()
    paused, renewed, changed, failed, untouched = subscriptions[:5]
    Subscription.objects.filter(pk=paused.pk).update(status="paused")
    Subscription.objects.filter(pk=renewed.pk).update(
        next_boundary_at=renewed.next_boundary_at + PERIOD
    )
    # A change of plan started a new term now: a weekly period from now on.
    Subscription.objects.filter(pk=changed.pk).update(
        term_start_at=NOW, period_seconds=7 * 86400, next_boundary_at=NOW + timedelta(days=7)
    )
    # This one's run came (its job moved on) but billing failed: it is still due.
    Subscription.objects.filter(pk=failed.pk).update(next_boundary_at=NOW - timedelta(hours=1))
    billing_scheduler.scheduler.modify_job(
        scheduler.job_id(failed.pk), next_run_time=NOW - timedelta(hours=1) + PERIOD
    )

    report = billing_scheduler.reconcile_all()

    assert (report.paused, report.moved, report.replaced, report.added) == (1, 1, 1, 0)
    runs = jobs_by_subscription()
    assert runs[paused.pk] is None
    assert runs[renewed.pk] == renewed.next_boundary_at + PERIOD
    assert runs[changed.pk] == NOW + timedelta(days=7)
    job = billing_scheduler.scheduler.get_job(scheduler.job_id(changed.pk))
    assert (job.trigger.start_date, job.trigger.interval) == (NOW, timedelta(days=7))
    assert runs[failed.pk] == NOW - timedelta(hours=1) + PERIOD  # the sweep retries it
    assert runs[untouched.pk] == untouched.next_boundary_at


def test_the_start_brings_the_due_jobs_in_step_before_billing_runs(
    billing_scheduler, plan, monkeypatch
):
    # After a downtime: the catch-up billed the runs these jobs missed (their subscriptions'
    # next boundaries are ahead), and they must not all fire once the scheduler resumes.
    monkeypatch.setattr(scheduler, "PAGE_SIZE", 3)
    subscriptions = subscribe(plan, 14)
    billing_scheduler.reconcile_all()
    missed, (ended, failed, drifted, *others) = subscriptions[:8], subscriptions[8:]
    for subscription in [*missed, ended]:
        billing_scheduler.scheduler.modify_job(
            scheduler.job_id(subscription.pk), next_run_time=NOW - timedelta(hours=1)
        )
    Subscription.objects.filter(pk=ended.pk).update(status="expired")
    # Its billing failed in the catch-up: still due, its job runs once more.
    Subscription.objects.filter(pk=failed.pk).update(next_boundary_at=NOW - timedelta(hours=2))
    billing_scheduler.scheduler.modify_job(
        scheduler.job_id(failed.pk), next_run_time=NOW - timedelta(hours=2)
    )
    # Not due: left to the full reconcile that follows while billing runs.
    Subscription.objects.filter(pk=drifted.pk).update(plan_name="Silver")

    report = billing_scheduler.reconcile_due(NOW)

    assert (report.moved, report.removed, report.changed) == (len(missed), 1, len(missed) + 1)
    runs = jobs_by_subscription()
    assert {pk for pk, run in runs.items() if run <= NOW} == {failed.pk}
    assert all(runs[s.pk] == s.next_boundary_at for s in [*missed, *others])
    assert ended.pk not in runs
    assert billing_scheduler.scheduler.get_job(scheduler.job_id(drifted.pk)).name.endswith(
        "(Bronze)"
    )
    assert billing_scheduler.reconcile_all().replaced == 1  # the drifted one


def test_a_start_with_nothing_due_reads_one_page_of_due_jobs(
    billing_scheduler, plan, django_assert_num_queries
):
    subscribe(plan, 50)
    billing_scheduler.reconcile_all()

    with django_assert_num_queries(1):
        assert billing_scheduler.reconcile_due(NOW).changed == 0


def test_sync_brings_the_named_subscriptions_in_step(billing_scheduler, plan):
    subscriptions = subscribe(plan, 20)
    billing_scheduler.reconcile_all()
    cancelled, paused, new = subscriptions[0], subscriptions[1], subscribe(plan, 1, first=99)[0]
    Subscription.objects.filter(pk=cancelled.pk).update(status="cancelled")
    Subscription.objects.filter(pk=paused.pk).update(status="paused")

    report = billing_scheduler.sync([cancelled.pk, paused.pk, new.pk, 424242])

    assert (report.removed, report.paused, report.added) == (1, 1, 1)
    runs = jobs_by_subscription()
    assert cancelled.pk not in runs and runs[paused.pk] is None
    assert runs[new.pk] == new.next_boundary_at
    assert len(runs) == 20


def test_a_reconcile_never_unpickles_the_whole_job_list(billing_scheduler, plan, monkeypatch):
    subscribe(plan, 500)
    billing_scheduler.reconcile_all()

    def refuse(*args, **kwargs):
        raise AssertionError("the whole job list was read")

    monkeypatch.setattr(DjangoJobStore, "get_all_jobs", refuse)
    monkeypatch.setattr(DjangoJobStore, "_get_jobs", refuse)
    assert billing_scheduler.reconcile_all().changed == 0


@pytest.mark.parametrize("size", [900, 3000])
def test_queries_are_bounded_per_page(
    billing_scheduler, plan, monkeypatch, size, django_assert_max_num_queries
):
    monkeypatch.setattr(scheduler, "PAGE_SIZE", 300)  # an insert of 300 rows fits in SQLite's
    subscriptions = subscribe(plan, size)
    # Pages are ranges of ids, up to the last subscription's (ids go on from earlier tests).
    pages = -(-subscriptions[-1].pk // 300)
    written = size // 300 + 1
    # Each page: its live subscriptions with their job rows, and the job rows of its other ids;
    # a page with new jobs: one insert in a transaction (SQLite counts BEGIN and COMMIT). Plus
    # the last id and the count of jobs, read once.
    with django_assert_max_num_queries(2 * pages + 3 * written + 2):
        assert billing_scheduler.reconcile_all().added == size
    with django_assert_max_num_queries(2 * pages + 2):
        assert billing_scheduler.reconcile_all().changed == 0


def test_memory_does_not_grow_with_the_number_of_subscriptions(
    billing_scheduler, plan, monkeypatch
):
    monkeypatch.setattr(scheduler, "PAGE_SIZE", 250)
    peaks = {}
    first = 0
    for size in (500, 2500):
        subscribe(plan, size - first, first=first)
        first = size
        billing_scheduler.reconcile_all()  # create the jobs; then measure a pass over them
        connection.queries_log.clear()
        tracemalloc.start()
        try:
            assert billing_scheduler.reconcile_all().changed == 0
            peaks[size] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    # Five times the subscriptions, about the same peak: a page at a time, whatever the size.
    assert peaks[2500] < 1.5 * peaks[500], peaks
