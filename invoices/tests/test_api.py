"""The billing endpoints, as a client sees them."""

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.tests.factories import UserFactory
from conftest import ApiClient
from invoices import billing
from invoices.models import Invoice
from plans.models import Plan
from subscriptions.models import Subscription

from .conftest import START, assert_books_balance, balance, top_up

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
PURCHASE = "/api/v1/purchase-plan/"
SUBSCRIPTIONS = "/api/v1/subscriptions/"
INVOICES = "/api/v1/invoices/"
STATISTICS = "/api/v1/invoices/statistics/"


@pytest.fixture
def at_start(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


def purchase(client, plan, **headers):
    return client.post(PURCHASE, {"plan": plan.pk}, **headers)


def activation(subscription_id) -> str:
    return f"{SUBSCRIPTIONS}{subscription_id}/activation/"


# --- purchase-plan -----------------------------------------------------------------------------


def test_purchase_answers_in_seed_000s_shape(client, customer, bronze, at_start):
    top_up(customer, "1000")

    response = purchase(client, bronze)

    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Purchase Plan Successful"
    data = body["data"]
    assert data == {
        "id": data["id"],
        "plan_id": bronze.pk,
        "plan_name": "Globalnet Bronze",
        "plan_amount": "500.00",
        "plan_payment_cycle": 30,
        "plan_months_validity": 12,
        "plan_cancellable": False,
        "start_date": "2021-10-14",
        "end_date": "2022-10-09",
        "is_active": True,
        "status": "active",
        "current_period_start": "2021-10-14T09:00:00Z",
        "current_period_end": "2021-11-13T09:00:00Z",
        "next_billing_at": "2021-11-13T09:00:00Z",
        "scheduled_plan_id": None,
        "scheduled_plan_at": None,
    }
    assert client.get("/api/v1/credit/").json()["balance"] == "500.00"


def test_purchase_without_credit_is_402_and_changes_nothing(client, customer, bronze, at_start):
    response = purchase(client, bronze)

    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_credit"
    assert not Subscription.objects.exists() and not Invoice.objects.exists()


def test_purchase_of_an_archived_plan_is_404(client, customer, bronze, at_start):
    top_up(customer, "1000")
    bronze.archived_at = START
    bronze.save()

    response = purchase(client, bronze)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_purchase_twice_is_409(client, customer, bronze, at_start):
    top_up(customer, "1000")
    purchase(client, bronze)

    response = purchase(client, bronze)

    assert response.status_code == 409
    assert response.json()["code"] == "already_subscribed"
    assert balance(customer) == Decimal("500.00")


@pytest.mark.parametrize(
    "payload", [{}, {"plan": "abc"}, {"plan": None}, {"plan": 0}, {"plan": 10**30}]
)
def test_purchase_validates_the_plan_field(client, customer, db, payload):
    response = client.post(PURCHASE, payload, format="json")

    assert response.status_code == 400
    assert "plan" in response.json()["errors"]


def test_purchase_needs_a_token(api_client, bronze):
    assert api_client.post(PURCHASE, {"plan": bronze.pk}).status_code == 401


def test_purchase_with_an_idempotency_key_buys_once(client, customer, bronze, at_start):
    top_up(customer, "5000")

    first = purchase(client, bronze, HTTP_IDEMPOTENCY_KEY="buy-1")
    retry = purchase(client, bronze, HTTP_IDEMPOTENCY_KEY="buy-1")

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert Subscription.objects.count() == 1
    assert balance(customer) == Decimal("4500.00")


def test_purchase_key_reused_for_another_plan_is_409(client, customer, bronze, gold, at_start):
    top_up(customer, "5000")
    purchase(client, bronze, HTTP_IDEMPOTENCY_KEY="buy-1")

    response = purchase(client, gold, HTTP_IDEMPOTENCY_KEY="buy-1")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"


def test_purchase_without_trailing_slash(client, customer, bronze, at_start):
    top_up(customer, "1000")

    assert client.post(PURCHASE.rstrip("/"), {"plan": bronze.pk}).status_code == 201


# --- cancel-plan -------------------------------------------------------------------------------


def test_cancel_a_cancellable_plan(client, customer, gold, at_start):
    top_up(customer, "1200")
    subscription_id = purchase(client, gold).json()["data"]["id"]

    response = client.post(f"/api/v1/cancel-plan/{subscription_id}")

    assert response.status_code == 201
    assert response.json()["message"] == "Plan cancelled successfully"
    assert response.json()["data"]["status"] == "cancelled"
    assert response.json()["data"]["is_active"] is False
    assert response.json()["data"]["next_billing_at"] is None


def test_cancel_with_put(client, customer, gold, at_start):
    top_up(customer, "1200")
    subscription_id = purchase(client, gold).json()["data"]["id"]

    assert client.put(f"/api/v1/cancel-plan/{subscription_id}/").status_code == 201


def test_cancel_a_plan_that_is_not_cancellable_is_409_with_data(client, customer, bronze, at_start):
    top_up(customer, "500")
    subscription_id = purchase(client, bronze).json()["data"]["id"]

    response = client.post(f"/api/v1/cancel-plan/{subscription_id}/")

    assert response.status_code == 409
    body = response.json()
    assert (body["message"], body["code"]) == ("Plan is not cancellable", "not_cancellable")
    assert body["data"]["id"] == subscription_id
    assert body["data"]["is_active"] is True


def test_cancel_someone_elses_subscription_is_404(client, gold, at_start):
    other = UserFactory()
    top_up(other, "1200")
    theirs = billing.subscription_purchase(user_id=other.pk, plan_id=gold.pk, now=START)

    response = client.post(f"/api/v1/cancel-plan/{theirs.pk}/")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "active"


def test_cancel_twice_is_409(client, customer, gold, at_start):
    top_up(customer, "1200")
    subscription_id = purchase(client, gold).json()["data"]["id"]
    client.post(f"/api/v1/cancel-plan/{subscription_id}/")

    response = client.post(f"/api/v1/cancel-plan/{subscription_id}/")

    assert response.status_code == 409
    assert response.json()["code"] == "subscription_ended"


# --- subscriptions -----------------------------------------------------------------------------


def test_subscriptions_list_only_the_callers_own(client, customer, bronze, gold, at_start):
    other = UserFactory()
    top_up(other, "500")
    billing.subscription_purchase(user_id=other.pk, plan_id=bronze.pk, now=START)
    top_up(customer, "2000")
    purchase(client, bronze)
    purchase(client, gold)

    body = client.get(SUBSCRIPTIONS).json()

    assert body["count"] == 2
    assert [s["plan_name"] for s in body["results"]] == ["Globalnet Gold", "Globalnet Bronze"]


def test_subscriptions_filter_by_status(client, customer, bronze, gold, at_start):
    top_up(customer, "2000")
    purchase(client, bronze)
    gold_id = purchase(client, gold).json()["data"]["id"]
    client.post(f"/api/v1/cancel-plan/{gold_id}/")

    cancelled = client.get(SUBSCRIPTIONS, {"status": "cancelled"}).json()["results"]
    active = client.get(SUBSCRIPTIONS.rstrip("/"), {"status": "active"}).json()["results"]

    assert [s["id"] for s in cancelled] == [gold_id]
    assert [s["plan_name"] for s in active] == ["Globalnet Bronze"]


def test_subscriptions_filter_rejects_an_unknown_status(client, db):
    response = client.get(SUBSCRIPTIONS, {"status": "sleeping"})

    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_subscription_detail_and_others_404(client, customer, bronze, at_start):
    top_up(customer, "500")
    mine = purchase(client, bronze).json()["data"]["id"]
    other = UserFactory()
    top_up(other, "500")
    theirs = billing.subscription_purchase(user_id=other.pk, plan_id=bronze.pk, now=START)

    assert client.get(f"{SUBSCRIPTIONS}{mine}").json()["id"] == mine
    response = client.get(f"{SUBSCRIPTIONS}{theirs.pk}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_subscription_list_queries_do_not_grow(client, customer, db, django_assert_max_num_queries):
    top_up(customer, "100000")
    for n in range(100):
        plan = Plan.objects.create(name=f"Plan {n}", amount="1.00")
        billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=START)

    for size in (1, 100):
        with django_assert_max_num_queries(3):
            assert len(client.get(SUBSCRIPTIONS, {"page_size": size}).json()["results"]) == size


# --- activation --------------------------------------------------------------------------------


def test_deactivate_and_reactivate(client, customer, bronze, at_start):
    top_up(customer, "1000")
    subscription_id = purchase(client, bronze).json()["data"]["id"]

    paused = client.put(activation(subscription_id), {"is_active": False})
    assert paused.status_code == 200
    assert (paused.json()["status"], paused.json()["is_active"]) == ("paused", False)

    at_start.shift(45 * DAY)
    active = client.patch(activation(subscription_id).rstrip("/"), {"isactive": 1})

    assert active.status_code == 200
    assert (active.json()["status"], active.json()["is_active"]) == ("active", True)
    assert balance(customer) == 0  # the second period was billed on reactivation
    assert_books_balance(customer)


@pytest.mark.parametrize(("value", "status"), [(0, "paused"), ("0", "paused"), (False, "paused")])
def test_seed_003_isactive_alias(client, customer, bronze, at_start, value, status):
    top_up(customer, "500")
    subscription_id = purchase(client, bronze).json()["data"]["id"]

    response = client.put(activation(subscription_id), {"isactive": value}, format="json")

    assert response.json()["status"] == status


def test_reactivation_without_credit_is_402(client, customer, bronze, at_start):
    top_up(customer, "500")
    subscription_id = purchase(client, bronze).json()["data"]["id"]
    client.put(activation(subscription_id), {"is_active": False})
    at_start.shift(31 * DAY)

    response = client.put(activation(subscription_id), {"is_active": True})

    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_credit"
    assert client.get(f"{SUBSCRIPTIONS}{subscription_id}/").json()["status"] == "paused"


def test_activation_of_an_ended_subscription_is_409(client, customer, gold, at_start):
    top_up(customer, "1200")
    subscription_id = purchase(client, gold).json()["data"]["id"]
    client.post(f"/api/v1/cancel-plan/{subscription_id}/")

    response = client.put(activation(subscription_id), {"is_active": True})

    assert response.status_code == 409


@pytest.mark.parametrize(
    "payload", [{}, {"is_active": "maybe"}, {"isactive": 2}, {"is_active": True, "isactive": 0}]
)
def test_activation_validates_its_body(client, customer, bronze, at_start, payload):
    top_up(customer, "500")
    subscription_id = purchase(client, bronze).json()["data"]["id"]

    response = client.put(activation(subscription_id), payload, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_activation_of_someone_elses_subscription_is_404(client, bronze, at_start):
    other = UserFactory()
    top_up(other, "500")
    theirs = billing.subscription_purchase(user_id=other.pk, plan_id=bronze.pk, now=START)

    assert client.put(activation(theirs.pk), {"is_active": False}).status_code == 404


# --- top-up resumes ----------------------------------------------------------------------------


def test_top_up_resumes_a_suspended_subscription_at_once(client, customer, bronze, at_start):
    top_up(customer, "500")
    subscription_id = purchase(client, bronze).json()["data"]["id"]
    at_start.shift(31 * DAY)
    billing.bill_due()
    assert client.get(f"{SUBSCRIPTIONS}{subscription_id}/").json()["status"] == "suspended"

    response = client.post("/api/v1/credit/top-up/", {"amount": "700"})

    assert response.json()["balance"] == "200.00"
    assert client.get(f"{SUBSCRIPTIONS}{subscription_id}/").json()["status"] == "active"


# --- invoices ----------------------------------------------------------------------------------


@pytest.fixture
def history(client, customer, bronze, gold, at_start):
    """Bronze paid for periods 0-2, Gold paid once then unpaid (suspended)."""
    top_up(customer, "2900")
    bronze_id = purchase(client, bronze).json()["data"]["id"]
    at_start.shift(DAY)
    gold_id = purchase(client, gold).json()["data"]["id"]
    billing.bill_due(now=START + 61 * DAY + timedelta(hours=1))
    return {"bronze": bronze_id, "gold": gold_id}


def test_invoice_list_newest_first_in_the_contracts_shape(client, history):
    body = client.get(INVOICES).json()

    assert body["count"] == 5
    newest = body["results"][0]
    assert set(newest) == {
        "id", "number", "subscription_id", "plan_id", "plan_name", "amount", "proration_credit",
        "period_start", "period_end", "status", "issued_at", "paid_at",
    }  # fmt: skip
    assert newest["number"] == "INV-2021-000005"
    issued = [invoice["issued_at"] for invoice in body["results"]]
    assert issued == sorted(issued, reverse=True)
    assert [(i["plan_name"], i["status"]) for i in body["results"]] == [
        ("Globalnet Bronze", "paid"),
        ("Globalnet Gold", "unpaid"),
        ("Globalnet Bronze", "paid"),
        ("Globalnet Gold", "paid"),
        ("Globalnet Bronze", "paid"),
    ]


def test_invoice_filters(client, history):
    def ids(**params):
        return [i["subscription_id"] for i in client.get(INVOICES, params).json()["results"]]

    assert ids(subscription=history["gold"]) == [history["gold"]] * 2
    assert ids(status="unpaid") == [history["gold"]]
    assert len(ids(issued_after="2021-11-13")) == 3
    assert len(ids(issued_before="2021-10-15")) == 1
    assert len(ids(issued_after="2021-10-14T09:00:00Z", issued_before="2021-10-15T09:00:01Z")) == 2


@pytest.mark.parametrize(
    "params",
    [{"status": "lost"}, {"subscription": "abc"}, {"issued_after": "soon"}, {"issued_before": "x"}],
)
def test_invoice_filters_reject_bad_values(client, db, params):
    response = client.get(INVOICES, params)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_invoice_detail_and_others_404(client, history, bronze):
    mine = client.get(INVOICES).json()["results"][0]["id"]
    other = UserFactory()
    top_up(other, "500")
    billing.subscription_purchase(user_id=other.pk, plan_id=bronze.pk, now=START)
    theirs = Invoice.objects.get(user=other).pk

    assert client.get(f"{INVOICES}{mine}").json()["id"] == mine
    assert client.get(f"{INVOICES}{theirs}/").status_code == 404
    assert client.get(f"{INVOICES}abc/").status_code == 404


def test_invoice_statistics(client, history):
    response = client.get(STATISTICS)

    assert response.status_code == 200
    assert response.json() == {
        "count": 5,
        "total_amount": "3900.00",
        "paid": {"count": 4, "amount": "2700.00"},
        "unpaid": {"count": 1, "amount": "1200.00"},
        "void": {"count": 0, "amount": "0.00"},
        "by_month": [
            {"month": "2021-10", "count": 2, "amount": "1700.00"},
            {"month": "2021-11", "count": 2, "amount": "1700.00"},
            {"month": "2021-12", "count": 1, "amount": "500.00"},
        ],
    }


def test_invoice_statistics_take_the_same_filters(client, history):
    body = client.get(STATISTICS.rstrip("/"), {"issued_after": "2021-11-01"}).json()

    assert (body["count"], body["total_amount"]) == (3, "2200.00")
    assert [row["month"] for row in body["by_month"]] == ["2021-11", "2021-12"]


def test_invoice_statistics_for_a_new_customer(client, db):
    body = client.get(STATISTICS).json()

    assert body == {
        "count": 0,
        "total_amount": "0.00",
        "paid": {"count": 0, "amount": "0.00"},
        "unpaid": {"count": 0, "amount": "0.00"},
        "void": {"count": 0, "amount": "0.00"},
        "by_month": [],
    }


def test_statistics_months_follow_the_time_zone(client, customer, bronze, settings, time_machine):
    settings.TIME_ZONE = "Asia/Dhaka"  # UTC+6: 20:00 UTC on Oct 31 is Nov 1 there
    time_machine.move_to("2021-10-31T20:00:00Z", tick=False)
    top_up(customer, "500")
    purchase(client, bronze)

    assert client.get(STATISTICS).json()["by_month"][0]["month"] == "2021-11"


def test_invoice_list_queries_do_not_grow(client, customer, db, django_assert_max_num_queries):
    top_up(customer, "100000")
    plan = Plan.objects.create(name="Daily", amount="1.00", payment_cycle=1, total_valid_months=200)
    billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=START)
    billing.bill_due(now=START + 120 * DAY)

    for size in (1, 100):
        with django_assert_max_num_queries(3):
            assert len(client.get(INVOICES, {"page_size": size}).json()["results"]) == size
    with django_assert_max_num_queries(3):
        client.get(STATISTICS)


def test_billing_endpoints_need_a_token(api_client, db):
    for path in (SUBSCRIPTIONS, INVOICES, STATISTICS, f"{INVOICES}1/", f"{SUBSCRIPTIONS}1/"):
        assert ApiClient().get(path).status_code == 401
