"""
``next_billing_at`` is when the next invoice will be issued, and null while nothing will be
billed. The engine keeps its own boundary (``next_boundary_at``), so a paused or suspended
subscription still ends on time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.credit import credit_top_up
from accounts.tests.factories import UserFactory
from conftest import ApiClient
from invoices import billing
from plans.models import Plan
from subscriptions.models import Subscription

pytestmark = pytest.mark.django_db

START = datetime(2021, 10, 14, 9, 0, tzinfo=UTC)
PERIOD = timedelta(days=30)
SUBSCRIPTIONS = "/api/v1/subscriptions/"


@pytest.fixture
def customer():
    user = UserFactory()
    credit_top_up(user_id=user.pk, amount=Decimal("500"), now=START)
    return user


@pytest.fixture
def client(customer):
    client = ApiClient()
    client.force_authenticate(customer)
    return client


def buy(customer, *, cycles=3, cancellable=False) -> Subscription:
    plan = Plan.objects.create(
        name="Bronze", amount=Decimal("100.00"), total_valid_months=cycles,
        is_cancellable=cancellable,
    )  # fmt: skip
    return billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=START)


def shown(client, subscription) -> dict:
    return client.get(f"{SUBSCRIPTIONS}{subscription.pk}/").json()


def test_an_active_subscription_shows_its_next_invoice(client, customer):
    subscription = buy(customer)

    assert shown(client, subscription)["next_billing_at"] == "2021-11-13T09:00:00Z"


def test_a_paused_subscription_shows_no_next_invoice_and_still_ends_on_time(client, customer):
    subscription = buy(customer)
    billing.subscription_pause(
        user_id=customer.pk, subscription_id=subscription.pk, now=START + timedelta(days=1)
    )

    data = shown(client, subscription)

    assert (data["status"], data["next_billing_at"]) == ("paused", None)
    billing.bill_due(now=START + 3 * PERIOD)
    subscription.refresh_from_db()
    assert (subscription.status, subscription.ended_at) == ("expired", START + 3 * PERIOD)


def test_a_suspended_subscription_shows_no_next_invoice(client, customer):
    plan = Plan.objects.create(name="Gold", amount=Decimal("400.00"))
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=START)
    billing.bill_due(now=START + PERIOD)

    data = shown(client, subscription)

    assert (data["status"], data["next_billing_at"]) == ("suspended", None)
    subscription.refresh_from_db()
    assert subscription.next_boundary_at == START + 2 * PERIOD  # the engine's clock goes on


def test_an_ended_subscription_shows_no_next_invoice(client, customer):
    subscription = buy(customer, cancellable=True)
    billing.subscription_cancel(
        user_id=customer.pk, subscription_id=subscription.pk, now=START + timedelta(days=1)
    )

    assert shown(client, subscription)["next_billing_at"] is None


def test_the_last_period_bills_nothing_more(client, customer):
    subscription = buy(customer, cycles=2)
    billing.bill_due(now=START + PERIOD)

    data = shown(client, subscription)

    assert (data["status"], data["next_billing_at"]) == ("active", None)
    subscription.refresh_from_db()
    assert subscription.next_boundary_at == START + 2 * PERIOD  # when it expires


def test_reactivating_shows_the_next_invoice_again(client, customer):
    subscription = buy(customer)
    billing.subscription_pause(user_id=customer.pk, subscription_id=subscription.pk, now=START)
    billing.subscription_reactivate(
        user_id=customer.pk, subscription_id=subscription.pk, now=START + timedelta(days=2)
    )

    assert shown(client, subscription)["next_billing_at"] == "2021-11-13T09:00:00Z"


def test_the_list_shows_the_same(client, customer):
    subscription = buy(customer)
    billing.subscription_pause(user_id=customer.pk, subscription_id=subscription.pk, now=START)

    assert client.get(SUBSCRIPTIONS).json()["results"][0]["next_billing_at"] is None
