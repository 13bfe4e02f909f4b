"""A top-up settles only when there is something to settle: with nothing suspended, past due,
due or failed, it skips the settlement's transaction (one query instead of its five); with
something to do, it settles exactly as before."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from accounts.signals import credit_added
from invoices import billing
from invoices.billing import customer_needs_settling
from invoices.models import BillingFailure, Invoice
from invoices.receivers import settle_after_credit_added
from subscriptions.models import Subscription

from .conftest import START, assert_books_balance, balance, top_up

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
RENEWAL = START + 30 * DAY
UID = "invoices.settle_after_credit_added"


@pytest.fixture
def subscription(customer, bronze) -> Subscription:
    top_up(customer, "600", now=START)  # 100 left: the renewal at day 30 is short
    return billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)


def refresh(subscription) -> Subscription:
    subscription.refresh_from_db()
    return subscription


def top_up_queries(customer, amount, *, now) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        top_up(customer, amount, now=now)
    return [query["sql"] for query in queries.captured_queries]


def test_a_top_up_with_nothing_to_settle_costs_one_query_more_than_the_money(
    customer, subscription
):
    # Active and paid, its next boundary not reached: nothing to settle.
    assert credit_added.disconnect(dispatch_uid=UID)
    try:
        money_only = top_up_queries(customer, "100", now=START + DAY)
    finally:
        credit_added.connect(settle_after_credit_added, dispatch_uid=UID)

    with_receiver = top_up_queries(customer, "100", now=START + 2 * DAY)

    assert len(with_receiver) == len(money_only) + 1
    assert balance(customer) == 300
    assert refresh(subscription).status == "active"
    assert_books_balance(customer)


def test_the_check_is_one_query(customer, subscription, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert not customer_needs_settling(user_id=customer.pk, now=START + DAY)
    with django_assert_num_queries(1):
        assert customer_needs_settling(user_id=customer.pk, now=RENEWAL)  # the renewal is due


def test_a_recorded_failure_still_settles_and_is_cleared(customer, subscription):
    nothing_to_do = top_up_queries(customer, "100", now=START + DAY)
    BillingFailure.objects.create(
        user=customer, error="boom", first_failed_at=START + DAY, last_failed_at=START + DAY
    )

    with_settlement = top_up_queries(customer, "100", now=START + 2 * DAY)

    assert not BillingFailure.objects.filter(user=customer).exists()
    # What the shortcut spares otherwise: the settlement's lock, catch-up, settle and failure
    # clean-up (and its savepoint).
    assert len(with_settlement) - len(nothing_to_do) >= 4


def test_a_top_up_still_resumes_a_suspended_subscription(customer, subscription):
    billing.bill_due(now=RENEWAL)
    assert refresh(subscription).status == "suspended"

    top_up(customer, "400", now=RENEWAL + DAY)

    assert refresh(subscription).status == "active"
    assert subscription.invoices.get(period_index=1).status == "paid"
    assert balance(customer) == 0
    assert_books_balance(customer)


def test_a_top_up_still_pays_a_past_due_invoice(customer, subscription, settings):
    settings.BILLING_GRACE_DAYS = 5
    billing.bill_due(now=RENEWAL)
    assert refresh(subscription).status == "past_due"

    top_up(customer, "400", now=RENEWAL + DAY)

    assert (refresh(subscription).status, subscription.grace_ends_at) == ("active", None)
    assert subscription.invoices.get(period_index=1).status == "paid"


def test_a_top_up_still_catches_up_a_boundary_the_scheduler_missed(customer, subscription):
    # Nothing suspended, but the renewal is due and no run billed it yet: the top-up bills it.
    top_up(customer, "400", now=RENEWAL + DAY)

    subscription = refresh(subscription)
    assert (subscription.status, subscription.current_period_index) == ("active", 1)
    renewal = subscription.invoices.get(period_index=1)
    assert (renewal.status, renewal.issued_at) == ("paid", RENEWAL)
    assert balance(customer) == 0
    assert_books_balance(customer)


def test_a_top_up_still_expires_a_subscription_past_its_end(customer, bronze):
    top_up(customer, "100000", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    # Billed to its last period; then the end passes with no run.
    billing.bill_due(now=subscription.end_at - DAY)
    assert refresh(subscription).status == "active"

    top_up(customer, "1", now=subscription.end_at + DAY)

    assert refresh(subscription).status == "expired"
    assert Invoice.objects.filter(subscription=subscription).count() == 12


def test_a_short_top_up_still_leaves_a_suspended_subscription_suspended(customer, subscription):
    billing.bill_due(now=RENEWAL)

    top_up(customer, "100", now=RENEWAL + DAY)  # 200 of the 500 needed

    assert refresh(subscription).status == "suspended"
    assert balance(customer) == 200


@pytest.mark.parametrize("status", [choice for choice, _ in Subscription.Status.choices])
@pytest.mark.parametrize("boundary", ["passed", "ahead"])
@pytest.mark.parametrize("grace", [None, "passed", "ahead"])
@pytest.mark.parametrize("failed", [False, True])
def test_the_written_out_check_is_the_engines_rule(
    customer, subscription, status, boundary, grace, failed
):
    # customer_needs_settling writes its SQL out; the engine's rule is UNPAID or _due(now).
    now = START + 10 * DAY
    at = {"passed": now - DAY, "ahead": now + DAY, None: None}
    Subscription.objects.filter(pk=subscription.pk).update(
        status=status, next_boundary_at=at[boundary], grace_ends_at=at[grace]
    )
    if failed:
        BillingFailure.objects.create(user=customer, error="boom", first_failed_at=now,
                                      last_failed_at=now)  # fmt: skip
    rule = (
        Subscription.objects.filter(
            billing._due(now) | Q(status__in=billing.UNPAID), user=customer
        ).exists()
        or BillingFailure.objects.filter(user=customer).exists()
    )

    assert customer_needs_settling(user_id=customer.pk, now=now) is rule
    assert rule is (failed or status in billing.UNPAID or (
        status in billing.LIVE and "passed" in (boundary, grace)))  # fmt: skip
