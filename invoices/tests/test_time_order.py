"""
Billing reads its clock under the customer's lock: what it records (payments, paid_at, a new
subscription's start) follows the order it happened in, even when it waited for that lock.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.credit import credit_adjust, credit_top_up
from accounts.models import User
from accounts.tests.factories import UserFactory
from invoices import billing
from invoices.models import Invoice
from plans.models import Plan

from .conftest import START, assert_books_balance

PERIOD = timedelta(days=30)


@pytest.mark.django_db
def test_an_invoice_is_paid_at_its_ledger_line_never_before_the_line_before(customer, bronze):
    credit_top_up(user_id=customer.pk, amount=Decimal("1500"), now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    # A staff correction, made while a billing run whose clock says one hour after the renewal
    # waited for the customer: it moved money first.
    correction = credit_adjust(
        user_id=customer.pk,
        amount=Decimal("-5"),
        by=None,
        note="correction",
        now=START + PERIOD + timedelta(hours=2),
    )

    billing.bill_due(now=START + PERIOD + timedelta(hours=1))

    invoice = Invoice.objects.get(subscription=subscription, period_index=1)
    assert invoice.status == "paid"
    assert invoice.paid_at == invoice.payment.created_at == correction.created_at
    assert invoice.issued_at == START + PERIOD  # still the period's start
    assert_books_balance(customer)


def hold_the_customer_then(user_id: int, then: Callable[[], object], release: threading.Event):
    """A thread holding the customer's row lock until ``release``, then running ``then`` in
    the same transaction (a request that got there first)."""
    locked = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with transaction.atomic():
                User.objects.select_for_update().get(pk=user_id)
                locked.set()
                assert release.wait(10)
                then()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert locked.wait(10)
    return thread, errors


def in_thread(work: Callable[[], object]):
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def wait_until_someone_waits_for_a_lock() -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock')"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.01)
    raise AssertionError("nobody waited for the lock")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_billing_run_that_waited_for_the_customer_pays_after_what_came_first():
    plan = Plan.objects.create(name="Hourly", amount="10.00", payment_cycle=1)
    customer = UserFactory()
    bought_at = timezone.now() - timedelta(days=1, minutes=5)  # period 1 began 5 minutes ago
    credit_top_up(user_id=customer.pk, amount=Decimal("100"), now=bought_at)
    billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=bought_at)
    release = threading.Event()

    def correct() -> None:
        credit_adjust(user_id=customer.pk, amount=Decimal("-1"), by=None, note="correction")

    holder, holder_errors = hold_the_customer_then(customer.pk, correct, release)
    run, run_errors = in_thread(lambda: billing.bill_due())
    wait_until_someone_waits_for_a_lock()
    release.set()
    holder.join(20)
    run.join(20)
    assert not holder_errors and not run_errors, (holder_errors, run_errors)

    lines = list(customer.credit_transactions.order_by("id"))
    assert [line.amount for line in lines] == [Decimal("100"), -10, -1, -10]
    assert all(a.created_at <= b.created_at for a, b in itertools.pairwise(lines))
    renewal = Invoice.objects.get(user=customer, period_index=1)
    assert renewal.paid_at == lines[-1].created_at >= lines[-2].created_at


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_purchase_that_waited_for_another_starts_after_it():
    customer = UserFactory()
    credit_top_up(user_id=customer.pk, amount=Decimal("1000"))
    first, second = (Plan.objects.create(name=n, amount="100.00") for n in ("First", "Second"))
    release = threading.Event()

    def buy_first() -> None:
        billing.subscription_purchase(user_id=customer.pk, plan_id=first.pk)

    holder, holder_errors = hold_the_customer_then(customer.pk, buy_first, release)
    waiter, waiter_errors = in_thread(
        lambda: billing.subscription_purchase(user_id=customer.pk, plan_id=second.pk)
    )
    wait_until_someone_waits_for_a_lock()
    release.set()
    holder.join(20)
    waiter.join(20)
    assert not holder_errors and not waiter_errors, (holder_errors, waiter_errors)

    earlier, later = Invoice.objects.filter(user=customer).order_by("id")
    assert (earlier.plan_name, later.plan_name) == ("First", "Second")
    # The invoice numbered later was issued (and paid) later: numbers follow the list's order.
    assert earlier.issued_at <= later.issued_at
    assert earlier.paid_at <= later.paid_at
