"""
The real scheduler, end to end. The first test is the suite's one test that waits for billing
periods to pass (2-second periods); the restart test moves the clock instead.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_apscheduler.models import DjangoJob

from accounts.credit import credit_top_up
from accounts.tests.factories import UserFactory
from conftest import wait_for
from invoices import billing, scheduler
from invoices.models import Invoice
from plans.models import Plan
from subscriptions.models import Subscription

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db(transaction=True)


def status_of(subscription_id):
    return Subscription.objects.get(pk=subscription_id).status


def invoice_statuses(subscription_id):
    return list(
        Invoice.objects.filter(subscription_id=subscription_id)
        .order_by("period_index")
        .values_list("period_index", "status")
    )


def job_row(subscription_id):
    return DjangoJob.objects.filter(id=scheduler.job_id(subscription_id)).first()


def test_a_whole_life_with_the_real_scheduler(settings):
    settings.BILLING_DAY_SECONDS = 1  # a 2-day cycle lasts 2 s; 5 cycles, 10 s
    customer = UserFactory()
    plan = Plan.objects.create(name="Demo", amount="500.00", payment_cycle=2, total_valid_months=5)
    credit_top_up(user_id=customer.pk, amount=Decimal("1000"))  # two periods' worth
    running = scheduler.start(reconcile_seconds=0.5, standby_seconds=0.1)
    try:
        assert running.wait_until_leading(15)
        subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
        sid = subscription.pk
        assert wait_for(lambda: job_row(sid) is not None, 3)

        # Period 1 is paid on time by the job.
        assert wait_for(lambda: len(invoice_statuses(sid)) == 2, 4)
        second = Invoice.objects.get(subscription_id=sid, period_index=1)
        assert second.status == "paid"
        assert second.paid_at - second.period_start < timedelta(seconds=1)

        # Period 2: credit is gone, the invoice stays unpaid, the job pauses.
        assert wait_for(lambda: status_of(sid) == "suspended", 4)
        assert invoice_statuses(sid)[2] == (2, "unpaid")
        assert wait_for(lambda: job_row(sid).next_run_time is None, 3)

        # A top-up settles it and resumes the job.
        credit_top_up(user_id=customer.pk, amount=Decimal("1500"))
        assert status_of(sid) == "active"
        assert invoice_statuses(sid)[2] == (2, "paid")
        next_billing = Subscription.objects.get(pk=sid).next_billing_at
        assert wait_for(lambda: job_row(sid).next_run_time == next_billing, 3)

        # Deactivate and reactivate pause and resume the job.
        billing.subscription_pause(user_id=customer.pk, subscription_id=sid)
        assert wait_for(lambda: job_row(sid).next_run_time is None, 3)
        billing.subscription_reactivate(user_id=customer.pk, subscription_id=sid)
        assert wait_for(lambda: job_row(sid).next_run_time is not None, 3)

        # After the last period the subscription expires and its job goes.
        assert wait_for(lambda: status_of(sid) == "expired", 12)
        assert wait_for(lambda: job_row(sid) is None, 3)
    finally:
        scheduler.stop()

    assert [index for index, _ in invoice_statuses(sid)] == [0, 1, 2, 3, 4]
    assert all(state == "paid" for _, state in invoice_statuses(sid))
    assert_books_balance(customer)


def test_a_restart_bills_every_missed_period_once_in_order(settings, time_machine):
    settings.BILLING_DAY_SECONDS = 3600  # one-hour days, one-day cycles
    start = timezone.now()
    time_machine.move_to(start, tick=True)
    customer = UserFactory()
    plan = Plan.objects.create(name="Hourly", amount="10.00", payment_cycle=1)
    credit_top_up(user_id=customer.pk, amount=Decimal("1000"))

    first = scheduler.start(reconcile_seconds=0.2, standby_seconds=0.1)
    assert first.wait_until_leading(15)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    assert wait_for(lambda: job_row(subscription.pk) is not None, 3)
    scheduler.stop()

    # The job survived the stop in the database.
    persisted = job_row(subscription.pk)
    assert persisted.next_run_time == subscription.next_billing_at

    # Down for five and a half periods.
    time_machine.move_to(subscription.start_at + timedelta(hours=5, minutes=30), tick=True)
    second = scheduler.start(reconcile_seconds=0.2, standby_seconds=0.1)
    try:
        assert second.wait_until_leading(15)
        invoices = list(Invoice.objects.filter(subscription=subscription).order_by("id"))
        assert [invoice.period_index for invoice in invoices] == [0, 1, 2, 3, 4, 5]
        assert [invoice.issued_at for invoice in invoices] == [
            subscription.period_start(k) for k in range(6)
        ]
        assert wait_for(
            lambda: job_row(subscription.pk).next_run_time == subscription.period_start(6), 3
        )
    finally:
        scheduler.stop()

    third = scheduler.start(reconcile_seconds=0.2, standby_seconds=0.1)
    try:
        assert third.wait_until_leading(15)
    finally:
        scheduler.stop()
    assert Invoice.objects.filter(subscription=subscription).count() == 6
    assert_books_balance(customer)
