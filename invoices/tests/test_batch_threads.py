"""
``bill_due`` on PostgreSQL bills its pages in ``BILLING_WORKERS`` threads, each with its own
connection, taking pages from one keyset walk: every due period is still billed exactly once,
the books balance, a failing customer is recorded while the others are billed, and the report
and progress count every customer once.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings

from conftest import at_once
from events.models import Event
from invoices import billing
from invoices.models import BillingFailure, Invoice
from plans.models import Plan
from subscriptions.models import Subscription

from .conftest import START, assert_books_balance
from .test_batch import customers_with_a_renewal, statuses

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PERIOD = timedelta(days=30)


def customers_with_renewals(count: int) -> list[Subscription]:
    plan = Plan.objects.create(name="Bronze", amount="100.00")
    return customers_with_a_renewal(plan, count, credit="250")


def assert_told_in_order(customer_id: int) -> None:
    sequences = list(
        Event.objects.filter(customer_id=customer_id).order_by("id").values_list("sequence")
    )
    assert [sequence for (sequence,) in sequences] == list(range(1, len(sequences) + 1))


@override_settings(BILLING_WORKERS=2)
def test_pages_are_billed_by_two_threads_at_once_each_period_once(monkeypatch):
    subscriptions = customers_with_renewals(20)
    monkeypatch.setattr(billing, "BATCH_SIZE", 3)
    # The first page each thread takes waits for the other's: two pages are billed at once.
    both = threading.Barrier(2)
    pages: dict[str, list[list[int]]] = {}
    real_bill_page = billing._bill_page

    def bill_page(user_ids, *args, **kwargs):
        name = threading.current_thread().name
        if name not in pages:
            both.wait(timeout=30)
        pages.setdefault(name, []).append(list(user_ids))
        return real_bill_page(user_ids, *args, **kwargs)

    monkeypatch.setattr(billing, "_bill_page", bill_page)
    progress = []
    moment = START + 2 * PERIOD + timedelta(hours=1)  # two renewals each, the second unpaid

    report = billing.bill_due(now=moment, progress=progress.append)

    assert len(pages) == 2 and threading.current_thread().name not in pages
    billed = sorted(user_id for page in pages.values() for ids in page for user_id in ids)
    assert billed == sorted(s.user_id for s in subscriptions)  # each customer in one page
    assert (report.customers, report.invoices_paid, report.invoices_unpaid) == (20, 20, 20)
    assert (report.suspended, report.failed) == (20, 0)
    assert sum(progress) == 20
    for subscription in subscriptions:
        assert statuses(subscription) == [(0, "paid"), (1, "paid"), (2, "unpaid")]
        assert_books_balance(subscription.user)
        assert_told_in_order(subscription.user_id)
    numbers = sorted(Invoice.objects.values_list("number_seq", flat=True))
    assert numbers == list(range(1, 20 * 3 + 1))
    assert billing.bill_due(now=moment).invoices_paid == 0
    assert connection.vendor == "postgresql"


@override_settings(BILLING_WORKERS=2)
def test_a_failing_customer_is_recorded_while_the_threads_bill_the_others(monkeypatch):
    subscriptions = customers_with_renewals(9)
    bad = subscriptions[4]
    monkeypatch.setattr(billing, "BATCH_SIZE", 2)
    real_advance = billing._advance

    def advance(subscription, *args):
        if subscription.pk == bad.pk:
            raise ValueError(f"bad data in subscription {subscription.pk}")
        return real_advance(subscription, *args)

    monkeypatch.setattr(billing, "_advance", advance)

    report = billing.bill_due(now=START + PERIOD)

    assert (report.customers, report.invoices_paid, report.failed) == (8, 8, 1)
    failure = BillingFailure.objects.get()
    assert (failure.user_id, failure.subscription_id) == (bad.user_id, bad.pk)
    assert failure.error == f"ValueError: bad data in subscription {bad.pk}"
    for subscription in subscriptions:
        expected = [(0, "paid")] if subscription is bad else [(0, "paid"), (1, "paid")]
        assert statuses(subscription) == expected
        assert_books_balance(subscription.user)

    monkeypatch.setattr(billing, "_advance", real_advance)
    again = billing.bill_due(now=START + PERIOD + timedelta(hours=1))
    assert (again.invoices_paid, again.failed) == (1, 0)
    assert not BillingFailure.objects.exists()


@override_settings(BILLING_WORKERS=3)
def test_two_threaded_runs_at_once_bill_each_period_exactly_once(monkeypatch):
    subscriptions = customers_with_renewals(30)
    monkeypatch.setattr(billing, "BATCH_SIZE", 4)
    moment = START + 2 * PERIOD + timedelta(hours=1)

    first, second = at_once(
        lambda: billing.bill_due(now=moment), lambda: billing.bill_due(now=moment)
    )

    assert first.invoices_paid + second.invoices_paid == 30
    assert first.invoices_unpaid + second.invoices_unpaid == 30
    assert first.failed == second.failed == 0
    for subscription in subscriptions:
        assert statuses(subscription) == [(0, "paid"), (1, "paid"), (2, "unpaid")]
        assert_books_balance(subscription.user)
        assert_told_in_order(subscription.user_id)
    numbers = sorted(Invoice.objects.values_list("number_seq", flat=True))
    assert numbers == list(range(1, 30 * 3 + 1))


@override_settings(BILLING_WORKERS=1)
def test_one_worker_bills_in_the_calling_thread(monkeypatch):
    subscriptions = customers_with_renewals(5)
    monkeypatch.setattr(billing, "BATCH_SIZE", 2)
    threads = set()
    real_bill_page = billing._bill_page

    def bill_page(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return real_bill_page(*args, **kwargs)

    monkeypatch.setattr(billing, "_bill_page", bill_page)

    report = billing.bill_due(now=START + PERIOD)

    assert threads == {threading.current_thread().name}
    assert (report.customers, report.invoices_paid) == (5, 5)
    for subscription in subscriptions:
        assert statuses(subscription) == [(0, "paid"), (1, "paid")]
