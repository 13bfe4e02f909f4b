"""Invoice numbers: gapless and in issue order per calendar year (TIME_ZONE), whatever happens."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from accounts.tests.factories import UserFactory
from conftest import ApiClient, at_once, migrate
from events.models import Event
from invoices import billing
from invoices.models import Invoice
from invoices.numbering import invoice_numbers_take
from plans.models import Plan
from subscriptions.models import Subscription

from .conftest import START, top_up

DAY = timedelta(days=1)
PERIOD = 30 * DAY
PURCHASE = "/api/v1/purchase-plan/"
INVOICES = "/api/v1/invoices/"


def numbers(**filters) -> list[str]:
    """Every invoice's number, in the order they were issued."""
    return list(Invoice.objects.filter(**filters).order_by("pk").values_list("number", flat=True))


def expected(year: int, count: int, first: int = 1) -> list[str]:
    return [f"INV-{year}-{n:06d}" for n in range(first, first + count)]


def buy(customer, plan, at: datetime) -> Subscription:
    return billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=at)


@pytest.mark.django_db
def test_numbers_run_one_by_one_across_customers_in_issue_order(bronze, time_machine):
    time_machine.move_to(START, tick=False)
    customers = [UserFactory() for _ in range(3)]
    for customer in customers:
        top_up(customer, "1000")
        buy(customer, bronze, START)

    billing.bill_due(now=START + PERIOD)  # period 1 of each, customer by customer

    assert numbers() == expected(2021, 6)
    first = customers[0]
    assert numbers(user=first) == ["INV-2021-000001", "INV-2021-000004"]
    client = ApiClient()
    client.force_authenticate(first)
    listed = [invoice["number"] for invoice in client.get(INVOICES).json()["results"]]
    assert listed == ["INV-2021-000004", "INV-2021-000001"]  # newest first
    created = Event.objects.filter(customer=first, type="invoice.created").order_by("sequence")
    assert [event.data["number"] for event in created] == ["INV-2021-000001", "INV-2021-000004"]


@pytest.mark.django_db
def test_a_refused_purchase_leaves_no_gap(bronze, time_machine):
    time_machine.move_to(START, tick=False)
    rich, poor, late = UserFactory(), UserFactory(), UserFactory()
    top_up(rich, "500")
    top_up(poor, "499.99")
    top_up(late, "500")
    clients = {}
    for customer in (rich, poor, late):
        clients[customer.pk] = ApiClient()
        clients[customer.pk].force_authenticate(customer)

    statuses = [
        clients[customer.pk].post(PURCHASE, {"plan": bronze.pk}).status_code
        for customer in (rich, poor, late)
    ]

    assert statuses == [201, 402, 201]
    assert numbers() == ["INV-2021-000001", "INV-2021-000002"]
    assert numbers(user=late) == ["INV-2021-000002"]


@pytest.mark.django_db
def test_a_rolled_back_transaction_gives_its_numbers_back(customer, bronze, gold):
    top_up(customer, "5000", now=START)
    with pytest.raises(RuntimeError), transaction.atomic():
        buy(customer, bronze, START)
        assert numbers() == ["INV-2021-000001"]
        raise RuntimeError("something after the purchase failed")
    with pytest.raises(RuntimeError), transaction.atomic():
        with transaction.atomic():  # a block taken in a savepoint that succeeded…
            assert invoice_numbers_take(year=2021, count=3) == 1
        raise RuntimeError("…goes back with the transaction around it")

    buy(customer, gold, START)

    assert numbers() == ["INV-2021-000001"]


@pytest.mark.django_db
def test_each_year_starts_at_one(customer, bronze, time_machine):
    december = datetime(2021, 12, 20, 9, 0, tzinfo=UTC)
    time_machine.move_to(december, tick=False)
    other = UserFactory()
    top_up(customer, "5000")
    top_up(other, "5000")
    buy(customer, bronze, december)
    buy(other, bronze, december + DAY)

    billing.bill_due(now=december + PERIOD + DAY)  # both periods 1 start in January 2022

    assert numbers() == [*expected(2021, 2), *expected(2022, 2)]


@pytest.mark.django_db
def test_the_year_is_the_issue_dates_year_in_time_zone(customer, bronze, gold):
    silver = Plan.objects.create(name="Silver", amount="100.00")
    top_up(customer, "5000", now=START)

    with override_settings(TIME_ZONE="Asia/Dhaka"):  # UTC+6
        buy(customer, bronze, datetime(2021, 12, 31, 17, 59, tzinfo=UTC))  # 23:59 in Dhaka
        buy(customer, gold, datetime(2021, 12, 31, 18, 0, tzinfo=UTC))  # midnight in Dhaka
    with timezone.override("Asia/Dhaka"):  # a time zone activated for a request does not count
        buy(customer, silver, datetime(2021, 12, 31, 23, 30, tzinfo=UTC))  # 2021 in UTC

    assert numbers() == ["INV-2021-000001", "INV-2022-000001", "INV-2021-000002"]


@pytest.mark.django_db
def test_a_void_invoice_keeps_its_number(customer, gold):
    top_up(customer, "1200", now=START)
    subscription = buy(customer, gold, START)
    billing.bill_due(now=START + PERIOD)  # period 1 unpaid: past due
    unpaid = subscription.invoices.get(period_index=1)
    other = UserFactory()
    top_up(other, "1200", now=START)
    buy(other, gold, START + PERIOD + DAY)

    billing.subscription_cancel(
        user_id=customer.pk, subscription_id=subscription.pk, now=START + PERIOD + 2 * DAY
    )

    unpaid.refresh_from_db()
    assert (unpaid.status, unpaid.number) == ("void", "INV-2021-000002")
    assert numbers() == expected(2021, 3)


@pytest.mark.django_db
def test_numbers_are_taken_in_consecutive_blocks_per_year():
    assert invoice_numbers_take(year=2030, count=5) == 1
    assert invoice_numbers_take(year=2030) == 6
    assert invoice_numbers_take(year=2031, count=2) == 1
    assert invoice_numbers_take(year=2030, count=2) == 7
    with pytest.raises(ValueError):
        invoice_numbers_take(year=2030, count=0)


@pytest.mark.django_db(transaction=True)
def test_numbers_are_taken_only_inside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        invoice_numbers_take(year=2030)

    with transaction.atomic():
        assert invoice_numbers_take(year=2030) == 1


# --- The data migration ------------------------------------------------------------------------

BEFORE = [("invoices", "0004_invoice_plan_and_proration")]
AFTER = [("invoices", "0005_invoice_numbers")]


@pytest.fixture
def before_numbers(transactional_db) -> Iterator[type]:
    """Invoice as it was (numbered by its id); the schema is back to the latest after."""
    executor = migrate(BEFORE)
    try:
        yield executor.loader.project_state(BEFORE).apps.get_model("invoices", "Invoice")
    finally:
        migrate(executor.loader.graph.leaf_nodes())


def test_the_migration_numbers_existing_invoices_in_issue_order_per_year(before_numbers):
    old = before_numbers
    customer = UserFactory()
    plan = Plan.objects.create(name="Bronze", amount="500.00")
    subscription = Subscription.objects.create(
        user=customer,
        plan=plan,
        plan_name=plan.name,
        plan_amount=plan.amount,
        plan_payment_cycle=30,
        plan_months_validity=12,
        plan_cancellable=False,
        period_seconds=int(PERIOD.total_seconds()),
        status=Subscription.Status.EXPIRED,
        start_at=START,
        term_start_at=START,
        end_at=START + 12 * PERIOD,
        ended_at=START + 12 * PERIOD,
        created_at=START,
    )
    issued = [
        datetime(2021, 6, 1, tzinfo=UTC),
        datetime(2021, 12, 31, 17, 30, tzinfo=UTC),  # 23:30 in Dhaka: 2021
        datetime(2021, 12, 31, 18, 30, tzinfo=UTC),  # 00:30 on January 1st in Dhaka: 2022
        datetime(2021, 11, 1, tzinfo=UTC),  # a late catch-up: issued after the one above
        datetime(2022, 2, 1, tzinfo=UTC),
    ]
    ids = [
        old.objects.create(
            subscription_id=subscription.pk,
            user_id=customer.pk,
            period_index=index,
            period_start=at,
            period_end=at + PERIOD,
            plan_id=plan.pk,
            plan_name=plan.name,
            amount=Decimal("500.00"),
            status="void" if index == 4 else "unpaid",
            issued_at=at,
        ).pk
        for index, at in enumerate(issued)
    ]

    with override_settings(TIME_ZONE="Asia/Dhaka"):
        migrate(AFTER)
        top_up(customer, "100", now=datetime(2022, 3, 1, tzinfo=UTC))
        gold = Plan.objects.create(name="Gold", amount="100.00")
        buy(customer, gold, datetime(2022, 3, 1, tzinfo=UTC))

    by_id = dict(Invoice.objects.values_list("pk", "number"))
    assert [by_id[pk] for pk in ids] == [
        "INV-2021-000001",
        "INV-2021-000002",
        "INV-2022-000001",
        "INV-2021-000003",
        "INV-2022-000002",
    ]
    assert numbers(plan_name="Gold") == ["INV-2022-000003"]  # the year's counter goes on


# --- Under real concurrency (PostgreSQL) -------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_purchases_some_refused_number_exactly_one_to_n(time_machine):
    time_machine.move_to(START, tick=False)
    plans = [Plan.objects.create(name=f"Plan {n}", amount="500.00") for n in range(2)]
    customers = [UserFactory() for _ in range(8)]
    for n, customer in enumerate(customers):
        top_up(customer, "1000" if n % 4 else "700")  # every fourth can pay for one plan only

    def buyer(customer, plan):
        def call():
            client = ApiClient()
            client.force_authenticate(customer)
            return client.post(PURCHASE, {"plan": plan.pk}).status_code

        return call

    statuses = at_once(*(buyer(customer, plan) for customer in customers for plan in plans))

    assert Counter(statuses) == {201: 14, 402: 2}
    issued = Invoice.objects.order_by("number_seq")
    assert list(issued.values_list("number", flat=True)) == expected(2021, 14)
    assert sorted(issued.values_list("number_seq", flat=True)) == list(range(1, 15))
    assert set(issued.values_list("number_year", flat=True)) == {2021}
