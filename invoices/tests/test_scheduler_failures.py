"""The real scheduler when billing fails: it leads anyway, and never restarts in a hot loop."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from django.utils import timezone

from accounts.credit import credit_top_up
from accounts.tests.factories import UserFactory
from conftest import wait_for
from invoices import billing, scheduler
from invoices.models import BillingFailure, Invoice
from plans.models import Plan

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_failing_customer_neither_stops_the_start_nor_the_others(settings, monkeypatch):
    settings.BILLING_DAY_SECONDS = 3600  # a 1-day cycle lasts an hour
    plan = Plan.objects.create(name="Hourly", amount="10.00", payment_cycle=1)
    bought_at = timezone.now() - timedelta(minutes=90)  # period 1 started 30 minutes ago
    subscriptions = []
    for _ in range(3):
        customer = UserFactory()
        credit_top_up(user_id=customer.pk, amount=Decimal("100"), now=bought_at)
        subscriptions.append(
            billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=bought_at)
        )
    first, bad, last = subscriptions
    real_advance = billing._advance

    def advance(subscription, *args):
        if subscription.pk == bad.pk:
            raise ValueError("bad data")
        return real_advance(subscription, *args)

    monkeypatch.setattr(billing, "_advance", advance)
    running = scheduler.start(reconcile_seconds=0.2, standby_seconds=0.1)
    try:
        # The start-up catch-up billed the others, recorded the one, and the scheduler leads.
        assert running.wait_until_in_step(15)
        paid = Invoice.objects.filter(period_index=1, status="paid")
        assert set(paid.values_list("subscription_id", flat=True)) == {first.pk, last.pk}
        assert BillingFailure.objects.get().subscription_id == bad.pk
        assert running.failed_starts == 0
        # Its job, late at start, ran and failed too; its next run moved on to the next period.
        assert wait_for(lambda: BillingFailure.objects.get().attempts == 2)
        assert wait_for(lambda: job_next_run(running, bad.pk) > timezone.now())
        # A full reconcile (every 10 minutes) does not pull it back to fail again at once:
        # the sweep retries it.
        running.reconcile_all()
        assert job_next_run(running, bad.pk) > timezone.now()
        assert running.is_leader
    finally:
        scheduler.stop()


def job_next_run(running, subscription_id):
    job = running.scheduler.get_job(scheduler.job_id(subscription_id))
    return job.next_run_time


def test_a_failing_start_is_retried_with_a_doubling_pause_up_to_the_cap(monkeypatch):
    monkeypatch.setattr(scheduler, "FIRST_BACKOFF_SECONDS", 0.05)
    starts = []
    enough = threading.Event()

    def bill_due(**kwargs):
        starts.append(time.monotonic())
        if len(starts) >= 7:
            enough.set()
        raise RuntimeError("the database is in trouble")

    monkeypatch.setattr(billing, "bill_due", bill_due)
    running = scheduler.BillingScheduler(
        reconcile_seconds=0.2, standby_seconds=0.1, max_backoff_seconds=0.4
    )
    running.start_in_background()
    try:
        assert enough.wait(15)
    finally:
        running.stop()

    pauses = [later - earlier for earlier, later in pairwise(starts)]
    # 0.05, 0.1, 0.2, 0.4 (the cap), 0.4, 0.4: the old loop restarted at once, hundreds a second.
    expected = [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]
    for pause, wanted in zip(pauses, expected, strict=False):
        assert pause >= wanted * 0.9, pauses
    assert not running.is_leader


def test_the_pause_doubles_and_stops_at_the_cap():
    running = scheduler.BillingScheduler(max_backoff_seconds=300)

    pauses = []
    for failed in range(1, 12):
        running.failed_starts = failed
        pauses.append(running.backoff_seconds())

    assert pauses == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


def test_a_start_that_leads_resets_the_pause(monkeypatch):
    monkeypatch.setattr(scheduler, "FIRST_BACKOFF_SECONDS", 0.05)
    calls = []
    real_bill_due = billing.bill_due

    def bill_due(**kwargs):
        calls.append(1)
        if len(calls) <= 3:
            raise RuntimeError("not yet")
        return real_bill_due(**kwargs)

    monkeypatch.setattr(billing, "bill_due", bill_due)
    running = scheduler.BillingScheduler(reconcile_seconds=0.2, standby_seconds=0.1)
    running.start_in_background()
    try:
        assert running.wait_until_in_step(15)
        assert running.failed_starts == 0
        assert len(calls) == 4
    finally:
        running.stop()


def test_a_start_whose_reconcile_fails_is_retried_with_a_pause_too(monkeypatch):
    # Billing already ran when the start's full reconcile fails: the start failed all the same
    # (its jobs are not known to be right), and the next one waits.
    monkeypatch.setattr(scheduler, "FIRST_BACKOFF_SECONDS", 0.05)
    starts = []
    enough = threading.Event()

    def reconcile_all(self):
        starts.append((time.monotonic(), self.is_leader))
        if len(starts) >= 5:
            enough.set()
        raise RuntimeError("the database is in trouble")

    monkeypatch.setattr(scheduler.BillingScheduler, "reconcile_all", reconcile_all)
    running = scheduler.BillingScheduler(
        reconcile_seconds=0.2, standby_seconds=0.1, max_backoff_seconds=0.4
    )
    running.start_in_background()
    try:
        assert enough.wait(15)
    finally:
        running.stop()

    assert all(leading for _, leading in starts)  # each time after billing had started
    pauses = [later - earlier for (earlier, _), (later, _) in pairwise(starts)]
    for pause, wanted in zip(pauses, [0.05, 0.1, 0.2, 0.4], strict=False):
        assert pause >= wanted * 0.9, pauses
    assert running.failed_starts >= 4 and not running.in_step.is_set()
