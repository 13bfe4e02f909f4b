"""Changing plan through the API: preview, change now or at the period's end, withdraw, history."""

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.tests.factories import UserFactory
from conftest import ApiClient
from subscriptions.models import PlanChange

from .conftest import START, assert_books_balance, balance, top_up

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
SUBSCRIPTIONS = "/api/v1/subscriptions/"


@pytest.fixture
def at_start(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


def url(subscription_id: int, tail: str = "change-plan/") -> str:
    return f"{SUBSCRIPTIONS}{subscription_id}/{tail}"


@pytest.fixture
def subscription_id(client, customer, bronze, at_start) -> int:
    top_up(customer, "2000")
    response = client.post("/api/v1/purchase-plan/", {"plan": bronze.pk})
    assert response.status_code == 201
    return response.json()["data"]["id"]


def test_preview_then_change_now(client, customer, bronze, gold, subscription_id, at_start):
    at_start.move_to(START + 10 * DAY, tick=False)

    preview = client.get(url(subscription_id, "change-plan/preview/"), {"plan": gold.pk})

    assert preview.status_code == 200
    assert preview.json() == {
        "subscription_id": subscription_id,
        "plan": gold.pk,
        "at": "now",
        "effective_at": "2021-10-24T09:00:00Z",
        "credit_back": "333.33",
        "charge": "1200.00",
        "balance": "1500.00",
        "balance_after": "633.33",
        "payable": True,
        "next_billing_at": "2021-11-23T09:00:00Z",
        "next_billing_amount": "1200.00",
    }

    response = client.post(url(subscription_id), {"plan": gold.pk, "at": "now"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["message"] == "Plan changed"
    assert body["quote"] == preview.json()
    assert body["data"]["id"] == subscription_id
    assert (body["data"]["plan_id"], body["data"]["plan_name"]) == (gold.pk, "Globalnet Gold")
    assert body["data"]["next_billing_at"] == "2021-11-23T09:00:00Z"
    assert body["change"]["status"] == "applied"
    assert body["change"]["credit_back"] == "333.33"
    assert client.get("/api/v1/credit/").json()["balance"] == "633.33"
    invoices = client.get("/api/v1/invoices/").json()["results"]
    assert [(i["plan_id"], i["amount"], i["proration_credit"]) for i in invoices] == [
        (gold.pk, "1200.00", "333.33"),
        (bronze.pk, "500.00", None),
    ]
    history = client.get(url(subscription_id, "plan-changes/")).json()["results"]
    assert [(c["from_plan_id"], c["plan_id"], c["at"], c["status"]) for c in history] == [
        (bronze.pk, gold.pk, "now", "applied")
    ]
    assert_books_balance(customer)


def test_change_at_period_end_then_withdraw(client, customer, gold, subscription_id, at_start):
    response = client.post(url(subscription_id), {"plan": gold.pk, "at": "period_end"})

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Plan change scheduled"
    assert body["change"]["status"] == "scheduled"
    assert body["change"]["effective_at"] == "2021-11-13T09:00:00Z"
    subscription = client.get(f"{SUBSCRIPTIONS}{subscription_id}/").json()
    assert subscription["scheduled_plan_id"] == gold.pk
    assert subscription["scheduled_plan_at"] == "2021-11-13T09:00:00Z"

    withdrawn = client.delete(url(subscription_id))

    assert withdrawn.status_code == 200
    assert withdrawn.json()["data"]["scheduled_plan_id"] is None
    again = client.delete(url(subscription_id))
    assert again.status_code == 404 and again.json()["code"] == "not_found"
    history = client.get(url(subscription_id, "plan-changes/")).json()["results"]
    assert [c["status"] for c in history] == ["withdrawn"]


def test_a_change_the_credit_cannot_pay_is_402(client, customer, bronze, at_start):
    top_up(customer, "500")
    subscription = client.post("/api/v1/purchase-plan/", {"plan": bronze.pk}).json()["data"]
    platinum = bronze.__class__.objects.create(name="Platinum", amount=Decimal("9000.00"))

    response = client.post(url(subscription["id"]), {"plan": platinum.pk})

    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_credit"
    assert client.get(f"{SUBSCRIPTIONS}{subscription['id']}/").json()["plan_id"] == bronze.pk
    assert balance(customer) == Decimal("0.00")


def test_bad_requests_are_clear_4xx(client, customer, bronze, gold, subscription_id):
    cases = [
        ({"plan": bronze.pk}, 400, "same_plan"),
        ({"plan": gold.pk, "at": "tomorrow"}, 400, "invalid"),
        ({}, 400, "invalid"),
        ({"plan": "gold"}, 400, "invalid"),
        ({"plan": 10**6}, 404, "not_found"),
    ]
    for body, status, code in cases:
        response = client.post(url(subscription_id), body, format="json")
        assert (response.status_code, response.json()["code"]) == (status, code), body
    preview = client.get(url(subscription_id, "change-plan/preview/"), {"plan": "x"})
    assert preview.status_code == 400 and preview.json()["errors"]["plan"]
    assert PlanChange.objects.count() == 0


def test_another_customers_subscription_is_404(gold, subscription_id):
    stranger = ApiClient()
    stranger.force_authenticate(UserFactory())

    for response in (
        stranger.post(url(subscription_id), {"plan": gold.pk}),
        stranger.get(url(subscription_id, "change-plan/preview/"), {"plan": gold.pk}),
        stranger.delete(url(subscription_id)),
        stranger.get(url(subscription_id, "plan-changes/")),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["code"] == "not_found"
    assert PlanChange.objects.count() == 0


def test_anonymous_is_401(gold, subscription_id):
    anonymous = ApiClient()
    assert anonymous.post(url(subscription_id), {"plan": gold.pk}).status_code == 401
    preview = anonymous.get(url(subscription_id, "change-plan/preview/"), {"plan": gold.pk})
    assert preview.status_code == 401


def test_the_change_honours_idempotency_key(client, customer, gold, subscription_id, at_start):
    first = client.post(url(subscription_id), {"plan": gold.pk}, HTTP_IDEMPOTENCY_KEY="move-1")
    retry = client.post(url(subscription_id), {"plan": gold.pk}, HTTP_IDEMPOTENCY_KEY="move-1")

    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert PlanChange.objects.count() == 1
    assert customer.invoices.filter(plan=gold).count() == 1
    assert_books_balance(customer)
