"""SubscriptionSerializer writes its fields out by hand: its output must stay exactly what DRF's
loop over the declared fields gives, in every state a subscription can be in."""

from datetime import timedelta
from decimal import Decimal

import pytest
from rest_framework import serializers

from invoices import billing
from invoices.tests.conftest import START, top_up
from plans.models import Plan
from subscriptions.models import Subscription
from subscriptions.serializers import SubscriptionSerializer

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def generic(subscription: Subscription) -> dict:
    """What the declared fields give through DRF's own loop."""
    serializer = SubscriptionSerializer(subscription)
    return dict(serializers.Serializer.to_representation(serializer, subscription))


def assert_same(subscription: Subscription) -> None:
    fast = SubscriptionSerializer(subscription).data
    assert list(fast) == list(SubscriptionSerializer().fields)  # keys in the declared order
    assert fast == generic(subscription)
    fresh = Subscription.objects.get(pk=subscription.pk)
    assert SubscriptionSerializer(fresh).data == generic(fresh)
    assert SubscriptionSerializer([fresh], many=True).data == [generic(fresh)]


@pytest.fixture
def customer(db):
    from accounts.tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def plans(db) -> tuple[Plan, Plan]:
    return (
        Plan.objects.create(name="Bronze", amount=Decimal("500.00")),
        Plan.objects.create(name="Gold", amount=Decimal("1200.50"), is_cancellable=True),
    )


def test_a_new_subscription_in_memory_and_from_the_database(customer, plans):
    top_up(customer, "10000", now=START)
    subscription = billing.subscription_purchase(
        user_id=customer.pk, plan_id=plans[0].pk, now=START
    )

    assert_same(subscription)
    data = SubscriptionSerializer(subscription).data
    assert (data["status"], data["plan_amount"], data["scheduled_plan_id"]) == (
        "active",
        "500.00",
        None,
    )
    assert type(data["status"]) is str


def test_with_a_change_of_plan_scheduled(customer, plans):
    top_up(customer, "10000", now=START)
    subscription = billing.subscription_purchase(
        user_id=customer.pk, plan_id=plans[0].pk, now=START
    )
    billing.subscription_plan_change(
        user_id=customer.pk,
        subscription_id=subscription.pk,
        plan_id=plans[1].pk,
        timing="period_end",
        now=START + DAY,
    )
    subscription.refresh_from_db()

    assert subscription.scheduled_plan_id == plans[1].pk
    assert_same(subscription)


def test_paused_suspended_past_due_and_cancelled(customer, plans, settings):
    top_up(customer, "600", now=START)
    bronze = billing.subscription_purchase(user_id=customer.pk, plan_id=plans[0].pk, now=START)
    settings.BILLING_GRACE_DAYS = 5
    billing.bill_due(now=START + 30 * DAY)
    bronze.refresh_from_db()
    assert bronze.status == "past_due"
    assert_same(bronze)

    settings.BILLING_GRACE_DAYS = 0
    billing.bill_due(now=START + 40 * DAY)
    bronze.refresh_from_db()
    assert bronze.status == "suspended"
    assert_same(bronze)

    top_up(customer, "5000", now=START + 41 * DAY)
    paused = billing.subscription_pause(
        user_id=customer.pk, subscription_id=bronze.pk, now=START + 42 * DAY
    )
    assert paused.status == "paused"
    assert_same(paused)

    gold = billing.subscription_purchase(
        user_id=customer.pk, plan_id=plans[1].pk, now=START + 42 * DAY
    )
    cancelled = billing.subscription_cancel(
        user_id=customer.pk, subscription_id=gold.pk, now=START + 43 * DAY
    )
    assert cancelled.status == "cancelled"
    assert_same(cancelled)
