"""
Property-based: random sequences of top-ups, purchases, pauses, reactivations, cancels and
clock jumps never break the books, whatever order they come in (with or without a grace
period), and each clock jump bills exactly what the credit forecast said it would.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Max
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.credit import credit_top_up
from accounts.tests.factories import UserFactory
from core.exceptions import ApplicationError
from invoices import billing
from invoices.forecast import credit_forecast
from invoices.models import Invoice
from plans.models import Plan
from subscriptions.models import Subscription

from .conftest import START, assert_books_balance

pytestmark = pytest.mark.django_db

operations = st.one_of(
    st.tuples(st.just("top_up"), st.sampled_from(["100", "300", "500", "1250"])),
    st.tuples(st.just("purchase"), st.integers(0, 2)),
    st.tuples(st.just("pause"), st.integers(0, 3)),
    st.tuples(st.just("reactivate"), st.integers(0, 3)),
    st.tuples(st.just("cancel"), st.integers(0, 3)),
    st.tuples(st.just("wait"), st.integers(0, 75)),
)


def check_invariants(customer, now) -> None:
    assert_books_balance(customer)
    subscriptions = list(Subscription.objects.filter(user=customer))
    live_plans = [s.plan_id for s in subscriptions if s.is_live]
    assert len(live_plans) == len(set(live_plans)), "two live subscriptions of one plan"
    for subscription in subscriptions:
        invoices = list(subscription.invoices.all())
        for invoice in invoices:
            assert invoice.period_start == subscription.period_start(invoice.period_index)
            assert invoice.amount == subscription.plan_amount
            assert invoice.period_index <= subscription.current_period_index
        unpaid = [i for i in invoices if i.status == Invoice.Status.UNPAID]
        if not subscription.is_live:
            assert subscription.next_boundary_at is subscription.next_billing_at is None
            assert not unpaid, "an ended subscription keeps an unpaid invoice"
            continue
        assert subscription.next_boundary_at > now, "a due period was left unprocessed"
        if subscription.next_billing_at is not None:
            assert subscription.is_active, "a time to bill what will not be billed"
        assert subscription.status != "active" or not unpaid
        if subscription.status == "past_due":
            # Served while its current period's invoice waits, until the grace period ends.
            assert now < subscription.grace_ends_at <= subscription.next_boundary_at
            assert [(i.period_index, i.status) for i in unpaid] == [
                (subscription.current_period_index, "unpaid")
            ]
        else:
            assert subscription.grace_ends_at is None
        if subscription.status == "active":
            current = [i for i in invoices if i.period_index == subscription.current_period_index]
            assert [i.status for i in current] == ["paid"], "an active period is not paid"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(operations, max_size=30), grace_days=st.sampled_from([0, 3, 10, 40]))
def test_random_lives_keep_the_books_straight(db, steps, grace_days):
    # Each example has a customer and plans of its own: examples need no rollback between them
    # (and bill_due, whose transactions must not be nested, runs as in production).
    customer = UserFactory()
    plans = [
        Plan.objects.create(name="Bronze", amount=Decimal("500.00")),
        Plan.objects.create(name="Gold", amount=Decimal("1200.00"), is_cancellable=True),
        Plan.objects.create(
            name="Weekly", amount=Decimal("99.99"), payment_cycle=7, total_valid_months=4,
            is_cancellable=True,
        ),
    ]  # fmt: skip
    now = START
    with override_settings(BILLING_GRACE_DAYS=grace_days):
        live(customer, plans, steps, now)


def live(customer, plans, steps, now) -> None:
    for action, argument in steps:
        subscriptions = list(Subscription.objects.filter(user=customer).order_by("id"))
        forecast = None
        try:
            if action == "top_up":
                credit_top_up(user_id=customer.pk, amount=Decimal(argument), now=now)
            elif action == "purchase":
                billing.subscription_purchase(
                    user_id=customer.pk, plan_id=plans[argument].pk, now=now
                )
            elif action == "wait":
                forecast = credit_forecast(user_id=customer.pk, now=now, days=366)
                issued_before = Invoice.objects.aggregate(last=Max("pk"))["last"] or 0
                now += timedelta(days=argument, hours=argument % 5)
            elif subscriptions:
                target = subscriptions[argument % len(subscriptions)].pk
                service = {
                    "pause": billing.subscription_pause,
                    "reactivate": billing.subscription_reactivate,
                    "cancel": billing.subscription_cancel,
                }[action]
                service(user_id=customer.pk, subscription_id=target, now=now)
        except ApplicationError as refusal:
            assert refusal.status_code in {402, 404, 409}
        billing.bill_due(now=now)
        check_invariants(customer, now)
        if forecast is not None:
            # The clock moved on: billing charged exactly what the forecast said it would.
            issued = Invoice.objects.filter(user=customer, pk__gt=issued_before)
            assert [
                (i.issued_at, i.subscription_id, i.amount, i.status == "paid")
                for i in issued.order_by("pk")
            ] == [
                (c.at, c.subscription_id, c.amount, c.covered)
                for c in forecast.charges
                if c.at <= now
            ]
