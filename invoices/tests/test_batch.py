"""
The batch run of ``bill_due``: keyset pages of customers, each page billed in one transaction
with a bounded number of statements; exactly once per period when runs race; catch-up in time
order across a customer's subscriptions; one customer's failure never stops the page.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from accounts.credit import credit_top_up
from accounts.tests.factories import UserFactory
from conftest import at_once
from events.models import Event
from invoices import billing
from invoices.models import BillingFailure, Invoice
from plans.models import Plan
from subscriptions.models import Subscription

from .conftest import START, assert_books_balance, top_up

PERIOD = timedelta(days=30)
RENEWAL = START + PERIOD


def customers_with_a_renewal(plan: Plan, count: int, credit: str = "1000") -> list[Subscription]:
    """``count`` customers, each with a subscription whose second period starts at RENEWAL."""
    subscriptions = []
    for _ in range(count):
        customer = UserFactory()
        top_up(customer, credit, now=START)
        subscriptions.append(
            billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=START)
        )
    return subscriptions


def statuses(subscription: Subscription) -> list[tuple[int, str]]:
    return list(
        subscription.invoices.order_by("period_index").values_list("period_index", "status")
    )


@pytest.mark.django_db
def test_pages_walk_the_due_customers_in_id_order_and_each_is_billed_once(bronze, monkeypatch):
    subscriptions = customers_with_a_renewal(bronze, 10)
    monkeypatch.setattr(billing, "BATCH_SIZE", 4)
    pages = []
    real_bill_page = billing._bill_page

    def bill_page(user_ids, *args, **kwargs):
        pages.append(list(user_ids))
        return real_bill_page(user_ids, *args, **kwargs)

    monkeypatch.setattr(billing, "_bill_page", bill_page)
    progress = []

    assert billing.bill_due_count(now=RENEWAL) == 10
    report = billing.bill_due(now=RENEWAL, progress=progress.append)

    customers = sorted(s.user_id for s in subscriptions)
    assert pages == [customers[:4], customers[4:8], customers[8:]]  # never more than a page
    assert (report.customers, report.invoices_paid, report.failed) == (10, 10, 0)
    assert progress == [4, 4, 2]
    for subscription in subscriptions:
        assert statuses(subscription) == [(0, "paid"), (1, "paid")]
        assert_books_balance(subscription.user)
    assert billing.bill_due(now=RENEWAL + timedelta(days=1)).invoices_paid == 0
    assert billing.bill_due_count(now=RENEWAL + timedelta(days=1)) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("customers", [3, 12])
def test_a_page_takes_the_same_number_of_statements_whatever_its_size(
    bronze, monkeypatch, django_assert_max_num_queries, customers
):
    # Every kind of write: paid and unpaid renewals, a suspension, an expiry voiding an invoice.
    weekly = Plan.objects.create(
        name="Weekly", amount=Decimal("99.99"), payment_cycle=7, total_valid_months=2
    )
    customers_with_a_renewal(bronze, customers)
    customers_with_a_renewal(bronze, customers, credit="500")  # the renewal goes unpaid
    for subscription in customers_with_a_renewal(weekly, customers, credit="99.99"):
        # Its second and last week goes unpaid; the expiry at RENEWAL voids the invoice.
        billing.bill_due(now=START + timedelta(days=7))
        assert statuses(subscription) == [(0, "paid"), (1, "unpaid")]
    monkeypatch.setattr(billing, "BATCH_SIZE", 3 * customers)

    # Pages (2), to settle (1), lock, due subscriptions, balances, unpaid invoices, numbers,
    # ledger lines, invoices, lines' invoices, balances, subscriptions, voids, events (2),
    # failures: 17, whatever the page's size; and here 4 savepoint statements (the test's
    # transaction turns the run's two transactions into savepoints).
    with django_assert_max_num_queries(17 + 4):
        report = billing.bill_due(now=RENEWAL)

    assert (report.customers, report.invoices_paid, report.invoices_unpaid) == (
        3 * customers,
        customers,
        customers,
    )
    assert (report.expired, report.invoices_voided, report.suspended) == (
        customers,
        customers,
        customers,
    )


@pytest.mark.django_db
def test_catch_up_bills_a_customers_subscriptions_in_time_order(bronze, gold):
    customer = UserFactory()
    top_up(customer, "2200", now=START)
    early = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    late_start = START + timedelta(days=10)
    late = billing.subscription_purchase(user_id=customer.pk, plan_id=gold.pk, now=late_start)
    top_up(customer, "2000", now=late_start)  # 2500: bronze 2, gold 2, bronze 3, not more

    report = billing.bill_due(now=START + 3 * PERIOD)  # a late run: four boundaries passed

    # In the order the periods started, whichever subscription they belong to.
    assert [
        (i.issued_at, i.subscription_id, i.status)
        for i in Invoice.objects.filter(user=customer, period_index__gt=0).order_by("id")
    ] == [
        (START + PERIOD, early.pk, "paid"),
        (late_start + PERIOD, late.pk, "paid"),
        (START + 2 * PERIOD, early.pk, "paid"),
        (late_start + 2 * PERIOD, late.pk, "unpaid"),
        (START + 3 * PERIOD, early.pk, "unpaid"),
    ]
    assert (report.invoices_paid, report.invoices_unpaid, report.suspended) == (3, 2, 2)
    lines = list(customer.credit_transactions.order_by("id"))
    assert [line.amount for line in lines] == [2200, -500, -1200, 2000, -500, -1200, -500]
    assert [line.balance_after for line in lines] == [2200, 1700, 500, 2500, 2000, 800, 300]
    assert_books_balance(customer)
    assert customer.credit == Decimal("300.00")


@pytest.mark.django_db
def test_a_failing_customer_does_not_stop_the_page(bronze, monkeypatch):
    first, bad, last = customers_with_a_renewal(bronze, 3)
    real_advance = billing._advance
    pages = []

    def advance(subscription, *args):
        if subscription.pk == bad.pk:
            raise ValueError(f"bad data in subscription {subscription.pk}")
        return real_advance(subscription, *args)

    real_write = billing._Page.write

    def write(page):
        pages.append(list(page.user_ids))
        return real_write(page)

    monkeypatch.setattr(billing, "_advance", advance)
    monkeypatch.setattr(billing._Page, "write", write)
    told = Event.objects.filter(customer_id=bad.user_id).count()

    report = billing.bill_due(now=RENEWAL)

    assert pages == [sorted(s.user_id for s in (first, bad, last))]  # one page for all three
    assert (report.invoices_paid, report.failed) == (2, 1)
    assert statuses(first) == statuses(last) == [(0, "paid"), (1, "paid")]
    assert statuses(bad) == [(0, "paid")]
    failure = BillingFailure.objects.get()
    assert (failure.user_id, failure.subscription_id) == (bad.user_id, bad.pk)
    assert failure.error == f"ValueError: bad data in subscription {bad.pk}"
    # Nothing of the failing customer's was written: no event, no ledger line.
    assert Event.objects.filter(customer_id=bad.user_id).count() == told
    assert bad.user.credit_transactions.count() == 2  # the top-up and the first period
    for subscription in (first, bad, last):
        assert_books_balance(subscription.user)

    monkeypatch.setattr(billing, "_advance", real_advance)
    again = billing.bill_due(now=RENEWAL + timedelta(hours=1))
    assert (again.invoices_paid, again.failed) == (1, 0)
    assert not BillingFailure.objects.exists()


@pytest.mark.django_db
def test_a_page_whose_writes_fail_is_billed_one_customer_at_a_time(bronze, monkeypatch):
    subscriptions = customers_with_a_renewal(bronze, 3)
    before = Event.objects.count()

    def refuse(**kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(billing, "event_record_batch", refuse)

    report = billing.bill_due(now=RENEWAL)

    assert (report.customers, report.invoices_paid, report.failed) == (3, 3, 0)
    for subscription in subscriptions:
        assert statuses(subscription) == [(0, "paid"), (1, "paid")]
        assert_books_balance(subscription.user)
    # Each customer's renewal told once: created and paid (the page's were rolled back).
    assert Event.objects.count() == before + 2 * 3
    numbers = sorted(Invoice.objects.values_list("number_seq", flat=True))
    assert numbers == list(range(1, 7))


@pytest.mark.django_db
def test_a_scheduled_change_of_plan_is_applied_by_the_batch(bronze, gold):
    subscription, other = customers_with_a_renewal(bronze, 2, credit="2000")
    billing.subscription_plan_change(
        user_id=subscription.user_id,
        subscription_id=subscription.pk,
        plan_id=gold.pk,
        timing="period_end",
        now=START + timedelta(days=3),
    )

    report = billing.bill_due(now=RENEWAL)

    assert report.invoices_paid == 2
    subscription.refresh_from_db()
    assert (subscription.plan_id, subscription.scheduled_plan_id) == (gold.pk, None)
    assert (subscription.term_start_at, subscription.term_first_index) == (RENEWAL, 1)
    renewal = subscription.invoices.get(period_index=1)
    assert (renewal.plan_id, renewal.amount, renewal.status) == (gold.pk, 1200, "paid")
    change = subscription.plan_changes.get()
    assert (change.status, change.first_period_index, change.effective_at) == (
        "applied",
        1,
        RENEWAL,
    )
    assert Event.objects.filter(
        customer_id=subscription.user_id, type="subscription.plan_changed"
    ).exists()
    assert statuses(other) == [(0, "paid"), (1, "paid")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_batch_runs_at_once_bill_each_period_exactly_once(monkeypatch):
    plan = Plan.objects.create(name="Bronze", amount="100.00")
    customers = [UserFactory() for _ in range(24)]
    for customer in customers:
        credit_top_up(user_id=customer.pk, amount=Decimal("250"), now=START)
        billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=START)
    monkeypatch.setattr(billing, "BATCH_SIZE", 5)
    moment = START + 2 * PERIOD + timedelta(hours=1)  # two renewals each, the second unpaid

    first, second = at_once(
        lambda: billing.bill_due(now=moment), lambda: billing.bill_due(now=moment)
    )

    assert first.invoices_paid + second.invoices_paid == 24
    assert first.invoices_unpaid + second.invoices_unpaid == 24
    assert first.failed == second.failed == 0
    assert Invoice.objects.count() == 24 * 3
    for customer in customers:
        assert list(
            Invoice.objects.filter(user=customer)
            .order_by("period_index")
            .values_list("period_index", "status")
        ) == [(0, "paid"), (1, "paid"), (2, "unpaid")]
        assert_books_balance(customer)
        events = Event.objects.filter(customer=customer).order_by("id")
        sequences = list(events.values_list("sequence", flat=True))
        assert sequences == list(range(1, len(sequences) + 1))
    numbers = sorted(Invoice.objects.values_list("number_seq", flat=True))
    assert numbers == list(range(1, 24 * 3 + 1))
    assert connection.vendor == "postgresql"


def test_a_batch_builds_invoices_and_ledger_lines_with_their_fields_in_order():
    # _BatchBooks.charge passes them positionally (keyword arguments cost three times as much).
    from accounts.models import CreditTransaction

    assert [field.attname for field in Invoice._meta.concrete_fields] == [
        "id",
        "subscription_id",
        "user_id",
        "period_index",
        "period_start",
        "period_end",
        "plan_id",
        "plan_name",
        "amount",
        "plan_change_id",
        "status",
        "issued_at",
        "number",
        "number_year",
        "number_seq",
        "paid_at",
        "voided_at",
        "payment_id",
    ]
    assert [field.attname for field in CreditTransaction._meta.concrete_fields] == [
        "id",
        "user_id",
        "amount",
        "kind",
        "balance_after",
        "invoice_id",
        "note",
        "created_by_id",
        "created_at",
    ]
