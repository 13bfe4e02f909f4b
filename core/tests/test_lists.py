"""
The lists (``GET plans/``, ``subscriptions/``, ``invoices/``) read their page with ``.values()``
and write the rows by hand (``core.lists``): a customer must still receive what DRF's own loop
over the serializers' fields gives for the same rows, on every page, filtered or not, in any time
zone, and the same answers to bad query parameters.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from rest_framework import serializers

from accounts.models import User
from accounts.tests.factories import UserFactory
from conftest import ApiClient
from invoices import billing
from invoices.selectors import invoice_list
from invoices.serializers import InvoiceSerializer
from invoices.tests.conftest import START, top_up
from plans.models import Plan
from plans.selectors import plan_list
from plans.serializers import PlanSerializer
from subscriptions.selectors import subscription_list
from subscriptions.serializers import SubscriptionSerializer

pytestmark = pytest.mark.django_db

PERIOD = timedelta(days=30)
ZONES = ["UTC", "Asia/Dhaka", "America/St_Johns"]  # +00:00 (written Z), +06:00, -03:30


def drf_loop(serializer_class: type[serializers.Serializer], instance: Any) -> dict:
    """What the declared fields give through DRF's own loop (the model's properties)."""
    return dict(serializers.Serializer.to_representation(serializer_class(), instance))


def client_for(user: User) -> ApiClient:
    client = ApiClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def customer() -> User:
    """A customer whose life left every kind of subscription and invoice: paid, unpaid, after a
    change of plan now (a proration credit), a change scheduled, paused, cancelled, in its last
    period."""
    user = UserFactory()
    bronze = Plan.objects.create(name="Bronze", amount=Decimal("500.00"))
    gold = Plan.objects.create(name="Gold", amount=Decimal("1200.50"), is_cancellable=True)
    silver = Plan.objects.create(name="Silver", amount=Decimal("0.01"), total_valid_months=2)
    platinum = Plan.objects.create(name="Platinum", amount=Decimal("2000.00"))
    diamond = Plan.objects.create(name="Diamond", amount=Decimal("10.00"), is_cancellable=True)
    single = Plan.objects.create(name="Single", amount=Decimal("3.00"), total_valid_months=1)
    top_up(user, "1000", now=START)
    first = billing.subscription_purchase(user_id=user.pk, plan_id=bronze.pk, now=START)
    billing.bill_due(now=START + PERIOD)  # paid: nothing left
    billing.bill_due(now=START + 2 * PERIOD)  # unpaid, suspended
    top_up(user, "5000", now=START + 2 * PERIOD + timedelta(days=1))  # settles it
    billing.subscription_plan_change(
        user_id=user.pk, subscription_id=first.pk, plan_id=gold.pk, timing="now",
        now=START + 2 * PERIOD + timedelta(days=10),
    )  # fmt: skip
    second = billing.subscription_purchase(
        user_id=user.pk, plan_id=bronze.pk, now=START + 2 * PERIOD + timedelta(days=11)
    )
    billing.subscription_pause(
        user_id=user.pk, subscription_id=second.pk, now=START + 2 * PERIOD + timedelta(days=12)
    )
    third = billing.subscription_purchase(
        user_id=user.pk, plan_id=silver.pk, now=START + 2 * PERIOD + timedelta(days=13)
    )
    billing.subscription_plan_change(
        user_id=user.pk, subscription_id=third.pk, plan_id=platinum.pk, timing="period_end",
        now=START + 2 * PERIOD + timedelta(days=14),
    )  # fmt: skip
    fourth = billing.subscription_purchase(
        user_id=user.pk, plan_id=diamond.pk, now=START + 2 * PERIOD + timedelta(days=15)
    )
    billing.subscription_cancel(
        user_id=user.pk, subscription_id=fourth.pk, now=START + 2 * PERIOD + timedelta(days=16)
    )
    # In its last period with nothing scheduled: no next billing.
    billing.subscription_purchase(
        user_id=user.pk, plan_id=single.pk, now=START + 2 * PERIOD + timedelta(days=17)
    )
    Plan.objects.create(name="Archived", amount=Decimal("9.99"), archived_at=START)
    return user


def all_pages(client: ApiClient, path: str, query: dict[str, Any]) -> tuple[list[dict], int]:
    """Every page of a list, 2 rows a page, following its ``next`` links: the rows, the count."""
    page = client.get(path, {**query, "page_size": 2}).json()
    assert page["previous"] is None
    results, count = list(page["results"]), page["count"]
    while page["next"]:
        assert page["next"].startswith(f"http://testserver{path}?")
        page = client.get(page["next"]).json()
        assert page["count"] == count and page["previous"].startswith("http://testserver")
        results += page["results"]
    return results, count


@pytest.mark.parametrize("zone", ZONES)
def test_every_page_of_every_list_is_what_the_serializers_give(customer, settings, zone):
    settings.TIME_ZONE = zone
    client = client_for(customer)
    subscriptions = list(subscription_list(user_id=customer.pk))
    invoices = list(invoice_list(user_id=customer.pk))
    plans = list(plan_list(user=customer))
    assert {s.status for s in subscriptions} >= {"active", "paused", "cancelled"}
    assert any(s.scheduled_plan_id for s in subscriptions)
    assert any(s.is_active and s.next_billing_at is None for s in subscriptions)
    assert {i.status for i in invoices} >= {"paid"} and any(i.plan_change_id for i in invoices)

    for path, query, serializer_class, rows in [
        ("/api/v1/subscriptions/", {}, SubscriptionSerializer, subscriptions),
        ("/api/v1/subscriptions/", {"status": "paused"}, SubscriptionSerializer,
         [s for s in subscriptions if s.status == "paused"]),
        ("/api/v1/invoices/", {}, InvoiceSerializer, invoices),
        ("/api/v1/invoices/", {"subscription": subscriptions[-1].pk}, InvoiceSerializer,
         [i for i in invoices if i.subscription_id == subscriptions[-1].pk]),
        ("/api/v1/plans/", {}, PlanSerializer, plans),
    ]:  # fmt: skip
        results, count = all_pages(client, path, query)
        assert count == len(rows) > 0, path
        assert results == [drf_loop(serializer_class, row) for row in rows], (path, query)
        assert [list(result) for result in results] == [
            list(serializer_class().fields) for _ in results
        ]  # the keys in the declared order


def test_superusers_list_archived_plans_as_the_serializer_writes_them(customer):
    superuser = UserFactory(is_superuser=True, is_staff=True)
    client = client_for(superuser)

    archived = client.get("/api/v1/plans/", {"archived": "true"}).json()

    plan = Plan.objects.get(name="Archived")
    assert archived["results"] == [drf_loop(PlanSerializer, plan)]
    assert archived["results"][0]["is_archived"] is True
    assert archived["results"][0]["amount"] == "9.99"


@pytest.mark.parametrize("path", ["/api/v1/plans/", "/api/v1/subscriptions/", "/api/v1/invoices/"])
@pytest.mark.parametrize(
    ("query", "status", "code", "errors"),
    [
        ({"page": "abc"}, 404, "not_found", None),
        ({"page": "0"}, 404, "not_found", None),
        ({"page": "999"}, 404, "not_found", None),
        ({"page_size": "0"}, 400, "invalid", "page_size"),
        ({"page_size": "abc"}, 400, "invalid", "page_size"),
    ],
)
def test_bad_page_parameters_keep_their_answers(customer, path, query, status, code, errors):
    response = client_for(customer).get(path, query, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    if errors is None:
        assert body["message"] == "Invalid page." and "errors" not in body
    else:
        assert list(body["errors"]) == [errors]


@pytest.mark.parametrize("path", ["/api/v1/subscriptions/", "/api/v1/invoices/"])
@pytest.mark.parametrize("value", ["bogus", ""])
def test_a_bad_status_filter_is_a_400(customer, path, value):
    response = client_for(customer).get(path, {"status": value})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == ["status"]


def test_the_last_page_by_name(customer):
    client = client_for(customer)

    last = client.get("/api/v1/invoices/", {"page_size": 2, "page": "last"}).json()

    invoices = list(invoice_list(user_id=customer.pk))
    assert last["next"] is None and last["previous"]
    tail = invoices[(len(invoices) - 1) // 2 * 2 :]
    assert last["results"] == [drf_loop(InvoiceSerializer, invoice) for invoice in tail]


def test_a_list_makes_two_queries_whatever_the_page_size(customer, django_assert_num_queries):
    client = client_for(customer)

    for size in (1, 100):  # the count and the page (force_authenticate: no account read)
        with django_assert_num_queries(2):
            client.get("/api/v1/invoices/", {"page_size": size})
