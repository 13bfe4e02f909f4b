"""Billing under real concurrency (threads, PostgreSQL row locks)."""

import contextlib
import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from accounts.credit import credit_top_up
from accounts.tests.factories import UserFactory
from accounts.tests.test_concurrency import race
from conftest import ApiClient
from invoices import billing
from invoices.models import Invoice
from plans.models import Plan

from .conftest import START, assert_books_balance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DAY = timedelta(days=1)


def test_parallel_purchases_never_overdraw(time_machine):
    time_machine.move_to(START, tick=False)
    customer = UserFactory()
    credit_top_up(user_id=customer.pk, amount=Decimal("1500"))
    plans = [Plan.objects.create(name=f"Plan {n}", amount="500.00") for n in range(6)]
    queue = iter(plans)

    def buy(client: ApiClient):
        client.force_authenticate(customer)
        return client.post("/api/v1/purchase-plan/", {"plan": next(queue).pk}).status_code

    statuses = race(6, buy)

    assert Counter(statuses) == {201: 3, 402: 3}
    customer.refresh_from_db()
    assert customer.credit == 0
    assert Invoice.objects.filter(user=customer).count() == 3
    assert_books_balance(customer)


def test_parallel_purchases_of_one_plan_subscribe_once(time_machine):
    time_machine.move_to(START, tick=False)
    customer = UserFactory()
    credit_top_up(user_id=customer.pk, amount=Decimal("5000"))
    plan = Plan.objects.create(name="Bronze", amount="500.00")

    def buy(client: ApiClient):
        client.force_authenticate(customer)
        return client.post("/api/v1/purchase-plan/", {"plan": plan.pk}).status_code

    assert Counter(race(6, buy)) == {201: 1, 409: 5}
    assert_books_balance(customer)


def test_bill_due_run_twice_at_once_bills_each_period_once():
    customers = [UserFactory() for _ in range(12)]
    plan = Plan.objects.create(name="Bronze", amount="100.00")
    for customer in customers:
        credit_top_up(user_id=customer.pk, amount=Decimal("1000"))
        billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=START)
    moment = START + 95 * DAY  # periods 1, 2 and 3 are due

    def run(_client):
        try:
            return billing.bill_due(now=moment).invoices_paid
        finally:
            connection.close()

    paid = race(4, run)

    assert sum(paid) == 12 * 3
    assert Invoice.objects.count() == 12 * 4
    for customer in customers:
        customer.refresh_from_db()
        assert customer.credit == Decimal("600.00")
        assert_books_balance(customer)


def test_a_top_up_racing_a_renewal_keeps_the_ledger_consistent():
    customer = UserFactory()
    plan = Plan.objects.create(name="Bronze", amount="500.00")
    credit_top_up(user_id=customer.pk, amount=Decimal("500"), now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=START)
    moment = START + 31 * DAY

    def work(_client):
        index = next(order)
        try:
            if index % 2:
                credit_top_up(user_id=customer.pk, amount=Decimal("250"), now=moment)
            else:
                billing.bill_due(now=moment)
        finally:
            connection.close()

    order = iter(range(8))
    race(8, work)

    subscription.refresh_from_db()
    customer.refresh_from_db()
    assert subscription.status == "active"
    assert list(
        subscription.invoices.values_list("period_index", "status").order_by("period_index")
    ) == [
        (0, "paid"),
        (1, "paid"),
    ]
    assert customer.credit == Decimal("500.00")  # 500 + 4 x 250 - 2 x 500
    assert_books_balance(customer)


def test_bill_due_steps_over_a_busy_customer_and_comes_back_for_them():
    from django.db import transaction

    from accounts.models import User

    plan = Plan.objects.create(name="Bronze", amount="100.00")
    customers = [UserFactory() for _ in range(3)]
    for customer in customers:
        credit_top_up(user_id=customer.pk, amount=Decimal("500"))
        billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=START)
    busy = customers[0]
    locked, release = threading.Event(), threading.Event()
    order = []

    def hold_the_lock():
        try:
            with transaction.atomic():
                User.objects.select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(10)
                order.append("released")
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    locked.wait(10)

    def progress(_):
        if len(order) == 0:
            order.append("others billed")
            release.set()  # the others are done: let the busy customer go

    report = billing.bill_due(now=START + 31 * DAY, progress=progress)
    holder.join(10)

    assert order[:2] == ["others billed", "released"]
    assert report.invoices_paid == 3
    assert Invoice.objects.filter(period_index=1).count() == 3


def test_event_sequences_stay_gapless_and_in_order_under_concurrent_top_ups_and_billing():
    from conftest import at_once
    from core.exceptions import InsufficientCredit
    from events.models import Event

    bronze = Plan.objects.create(name="Bronze", amount="100.00")
    silver = Plan.objects.create(name="Silver", amount="100.00")
    customers = [UserFactory() for _ in range(2)]
    for customer in customers:
        credit_top_up(user_id=customer.pk, amount=Decimal("100"), now=START)
        billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    later = START + 95 * DAY  # three periods due for each customer

    def buy_silver():
        # Before the top-ups it is refused (402), and records nothing.
        with contextlib.suppress(InsufficientCredit):
            billing.subscription_purchase(user_id=customers[0].pk, plan_id=silver.pk, now=later)

    calls = [
        *(
            lambda customer=customer: credit_top_up(
                user_id=customer.pk, amount=Decimal("100"), now=later
            )
            for customer in customers
            for _ in range(4)
        ),
        lambda: billing.bill_due(now=later),
        lambda: billing.bill_due(now=later),
        buy_silver,
    ]
    at_once(*calls)

    for customer in customers:
        events = list(Event.objects.filter(customer=customer).order_by("sequence"))
        assert [event.sequence for event in events] == list(range(1, len(events) + 1))
        types = Counter(event.type for event in events)
        assert types["credit.topped_up"] == 1 + 4
        # Each period billed once, whoever got there first, and each change told once.
        invoices = Invoice.objects.filter(user=customer)
        told = Counter((event.type, event.data["id"]) for event in events)
        assert {key for key in told if key[0].startswith("invoice.")} == {
            *(("invoice.created", pk) for pk in invoices.values_list("pk", flat=True)),
            *(
                ("invoice.paid", pk)
                for pk in invoices.filter(status="paid").values_list("pk", flat=True)
            ),
            *(
                ("invoice.voided", pk)
                for pk in invoices.filter(status="void").values_list("pk", flat=True)
            ),
        }
        assert all(count == 1 for (type_, _), count in told.items() if type_.startswith("invoice."))
        # The stream's order is the order money moved: ledger lines in the order of the ledger.
        lines = [event.data["id"] for event in events if event.type == "credit.topped_up"]
        assert lines == sorted(lines)
        assert_books_balance(customer)
