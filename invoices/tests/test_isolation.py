"""One customer whose billing fails never stops the others; operators see it; it is retried."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from accounts.tests.factories import UserFactory
from core.exceptions import AlreadySubscribed
from invoices import billing, jobs
from invoices.models import BillingFailure, Invoice
from subscriptions.models import Subscription

from .conftest import START, assert_books_balance, balance, top_up

pytestmark = pytest.mark.django_db

PERIOD = timedelta(days=30)
RENEWAL = START + PERIOD


def invoice_status(subscription: Subscription, index: int) -> str | None:
    invoice = Invoice.objects.filter(subscription=subscription, period_index=index).first()
    return invoice.status if invoice else None


@pytest.fixture
def three(bronze):
    """Three customers, each with a subscription whose second period starts at RENEWAL."""
    subscriptions = []
    for _ in range(3):
        customer = UserFactory()
        top_up(customer, "1000", now=START)
        subscriptions.append(
            billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
        )
    return subscriptions


@pytest.fixture
def broken(monkeypatch):
    """Make billing raise for the subscriptions put in the returned set (a bug, bad data)."""
    failing: set[int] = set()
    real_advance = billing._advance

    def advance(subscription, *args):
        if subscription.pk in failing:
            raise ValueError(f"bad data in subscription {subscription.pk}")
        return real_advance(subscription, *args)

    monkeypatch.setattr(billing, "_advance", advance)
    return failing


def test_a_failing_customer_is_recorded_and_the_others_are_billed(three, broken):
    first, bad, last = three
    broken.add(bad.pk)

    report = billing.bill_due(now=RENEWAL)

    assert (report.invoices_paid, report.failed) == (2, 1)
    assert invoice_status(first, 1) == invoice_status(last, 1) == "paid"
    assert invoice_status(bad, 1) is None  # rolled back, nothing half-done
    bad.refresh_from_db()
    assert (bad.current_period_index, bad.next_boundary_at) == (0, RENEWAL)
    failure = BillingFailure.objects.get()
    assert (failure.user_id, failure.subscription_id, failure.attempts) == (bad.user_id, bad.pk, 1)
    assert failure.error == f"ValueError: bad data in subscription {bad.pk}"
    assert failure.first_failed_at == failure.last_failed_at
    for subscription in three:
        assert_books_balance(subscription.user)


def test_a_failing_customer_is_retried_by_every_run_and_cleared_once_billed(three, broken):
    bad = three[1]
    broken.add(bad.pk)
    billing.bill_due(now=RENEWAL)
    billing.bill_due(now=RENEWAL + timedelta(hours=1))

    failure = BillingFailure.objects.get()
    assert failure.attempts == 2
    assert failure.last_failed_at > failure.first_failed_at

    broken.clear()  # the bug is fixed
    report = billing.bill_due(now=RENEWAL + timedelta(hours=2))

    assert (report.invoices_paid, report.failed) == (1, 0)
    assert invoice_status(bad, 1) == "paid"
    assert not BillingFailure.objects.exists()


@pytest.mark.django_db(transaction=True)  # jobs close old connections
def test_the_billing_job_records_a_failure_instead_of_raising(three, broken, time_machine):
    bad = three[1]
    broken.add(bad.pk)
    time_machine.move_to(RENEWAL, tick=False)

    jobs.bill_subscription(bad.pk)  # does not raise

    assert BillingFailure.objects.get().subscription_id == bad.pk
    broken.clear()
    jobs.bill_subscription(bad.pk)
    assert invoice_status(bad, 1) == "paid"
    assert not BillingFailure.objects.exists()


@pytest.mark.django_db(transaction=True)  # jobs close old connections
def test_a_failure_in_the_sweep_does_not_stop_it(three, broken, time_machine):
    broken.add(three[0].pk)
    time_machine.move_to(RENEWAL, tick=False)

    jobs.sweep()

    assert [invoice_status(s, 1) for s in three] == [None, "paid", "paid"]
    assert BillingFailure.objects.get().user_id == three[0].user_id


def test_a_failure_leaves_the_customers_own_requests_alone(three, broken, bronze, gold):
    # Billing someone else fails: this customer can still buy.
    broken.add(three[1].pk)
    billing.bill_due(now=RENEWAL)
    customer = three[0].user
    top_up(customer, "1200", now=RENEWAL)

    bought = billing.subscription_purchase(user_id=customer.pk, plan_id=gold.pk, now=RENEWAL)

    assert bought.status == "active"


def test_settlement_that_failed_after_a_top_up_is_done_by_the_sweep(customer, bronze, monkeypatch):
    top_up(customer, "500", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    billing.bill_due(now=RENEWAL)
    assert Subscription.objects.get(pk=subscription.pk).status == "suspended"
    real = billing._bill_current_period

    def fail(subscription, now, outbox):
        raise RuntimeError("settlement bug")

    monkeypatch.setattr(billing, "_bill_current_period", fail)

    top_up(customer, "600", now=RENEWAL + timedelta(days=1))  # settlement fails

    assert balance(customer) == Decimal("600.00")  # the top-up stands
    assert Subscription.objects.get(pk=subscription.pk).status == "suspended"
    assert BillingFailure.objects.get().subscription_id == subscription.pk

    monkeypatch.setattr(billing, "_bill_current_period", real)
    report = billing.bill_due(now=RENEWAL + timedelta(days=2))  # the sweep, nothing else due

    assert report.resumed == 1
    assert Subscription.objects.get(pk=subscription.pk).status == "active"
    assert invoice_status(subscription, 1) == "paid"
    assert balance(customer) == Decimal("100.00")
    assert not BillingFailure.objects.exists()
    assert_books_balance(customer)


def test_the_sweep_leaves_alone_a_suspended_subscription_credit_does_not_cover(customer, bronze):
    top_up(customer, "500", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    billing.bill_due(now=RENEWAL)
    top_up(customer, "100", now=RENEWAL + timedelta(days=1))

    assert billing.bill_due_count(now=RENEWAL + timedelta(days=2)) == 0
    report = billing.bill_due(now=RENEWAL + timedelta(days=2))

    assert (report.customers, report.resumed) == (0, 0)
    assert Subscription.objects.get(pk=subscription.pk).status == "suspended"


def test_billing_runs_refuse_to_run_inside_another_transaction(three):
    # Each customer is billed in a transaction of its own: nested, a run would hold every
    # customer's lock until the end.
    with transaction.atomic():
        with pytest.raises(RuntimeError, match="durable"):
            billing.bill_due(now=RENEWAL)
        with pytest.raises(RuntimeError, match="durable"):
            billing.subscription_bill(subscription_id=three[0].pk, now=RENEWAL)

    assert invoice_status(three[0], 1) is None
    assert not BillingFailure.objects.exists()


def test_health_counts_the_customers_whose_billing_fails(api_client, three, broken):
    broken.update({three[0].pk, three[2].pk})
    billing.bill_due(now=RENEWAL)
    billing.bill_due(now=RENEWAL + timedelta(hours=1))

    body = api_client.get("/api/v1/health/").json()

    # Failing customers are reported, and do not make the service unhealthy.
    assert body["billing_failures"] == 2
    assert body["status"] == "ok"


def test_the_admin_lists_failures_read_only(three, broken):
    from django.test import Client

    broken.add(three[1].pk)
    billing.bill_due(now=RENEWAL)
    browser = Client()
    browser.force_login(
        get_user_model().objects.create_superuser("+8801700000098", "admin-pw-98", name="A")
    )

    page = browser.get("/admin/invoices/billingfailure/")

    assert page.status_code == 200
    assert "bad data in subscription" in page.content.decode()
    assert str(three[1].user.phone) in page.content.decode()
    assert browser.get("/admin/invoices/billingfailure/add/").status_code == 403


def test_purchase_answers_already_subscribed_only_for_that_constraint(
    customer, bronze, monkeypatch
):
    top_up(customer, "1000", now=START)

    def issue(subscription, index, outbox, *, at):
        raise IntegrityError("CHECK constraint failed: invoices_amount_positive")

    monkeypatch.setattr(billing, "_invoice_issue", issue)

    with pytest.raises(IntegrityError):
        billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)


def test_purchase_of_a_plan_already_live_is_already_subscribed(customer, bronze):
    top_up(customer, "1000", now=START)
    billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)

    with pytest.raises(AlreadySubscribed):
        billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)


def test_the_bill_command_bills_the_others_and_says_who_failed(three, broken):
    from io import StringIO

    from django.core.management import call_command

    broken.add(three[1].pk)
    out, err = StringIO(), StringIO()

    call_command("bill", "--at", RENEWAL.isoformat(), stdout=out, stderr=err)

    assert "invoices paid: 2" in out.getvalue() and "failed: 1" in out.getvalue()
    assert "Billing failed for 1 customer(s)" in err.getvalue()
