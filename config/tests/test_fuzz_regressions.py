"""What schemathesis found, pinned down so it stays fixed."""

from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.credit import credit_top_up
from accounts.tests.factories import UserFactory
from conftest import ApiClient
from invoices import billing
from plans.models import Plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_client(db):
    customer = UserFactory()
    credit_top_up(user_id=customer.pk, amount=Decimal("1000"))
    plan = Plan.objects.create(name="Bronze", amount="500.00")
    billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    client = ApiClient()
    client.force_authenticate(customer)
    client.plan = plan
    return client


def _routes(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and (prefix + str(entry.pattern)).startswith("api/v1"):
            yield "/" + (prefix + str(entry.pattern)).replace("<id:plan_id>", "1").replace(
                "<id:subscription_id>", "1"
            ).replace("<id:invoice_id>", "1")


@pytest.mark.parametrize("path", sorted({r for r in _routes() if r.endswith("/")}))
def test_options_never_fails(customer_client, path):
    # OPTIONS /plans/<id>/ used to be a 500: DRF's metadata looked the plan up by "pk".
    response = customer_client.options(path)

    assert response.status_code < 500


@pytest.mark.parametrize(
    "query",
    [
        {"page_size": "null"},
        {"page_size": "0"},
        {"page_size": "-5"},
        {"page_size": "2.5"},
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/plans/",
        "/api/v1/invoices/",
        "/api/v1/subscriptions/",
        "/api/v1/credit/transactions/",
    ],
)
def test_a_malformed_page_size_is_400(customer_client, path, query):
    response = customer_client.get(path, query)

    assert response.status_code == 400
    assert "page_size" in response.json()["errors"]


def test_a_page_size_above_the_maximum_is_capped(customer_client):
    response = customer_client.get("/api/v1/plans/", {"page_size": "1000"})

    assert response.status_code == 200


@pytest.mark.parametrize("value", ["null", "maybe", ""])
def test_a_malformed_archived_flag_is_400(customer_client, value):
    response = customer_client.get("/api/v1/plans/", {"archived": value})

    assert response.status_code == 400
    assert "archived" in response.json()["errors"]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/subscriptions/", {"status": ""}),
        ("/api/v1/invoices/", {"status": ""}),
        ("/api/v1/invoices/", {"issued_before": ""}),
        ("/api/v1/invoices/statistics/", {"issued_after": " "}),
    ],
)
def test_an_empty_filter_is_400(customer_client, path, query):
    response = customer_client.get(path, query)

    assert response.status_code == 400
    assert set(query) <= set(response.json()["errors"])


@pytest.mark.parametrize(
    "subscription", ["-2.4834250587774374e+190", "1.5", "0", "99999999999999999999"]
)
def test_an_impossible_subscription_filter_is_400(customer_client, subscription):
    # A huge number used to reach the database and overflow: a 500.
    response = customer_client.get("/api/v1/invoices/", {"subscription": subscription})

    assert response.status_code == 400


@pytest.mark.parametrize(
    "moment",
    [
        "8811-03-14T23:48:51.8+16:09",  # PostgreSQL refused the +16:09 offset: a 500
        "9999-12-31T23:30:00-05:00",  # past year 9999 in UTC
        "0001-01-01T00:10:00+01:00",  # before year 1 in UTC
    ],
)
def test_datetime_filters_with_extreme_offsets(customer_client, moment):
    response = customer_client.get("/api/v1/invoices/", {"issued_after": moment})

    assert response.status_code in {200, 400}


def test_a_datetime_filter_far_off_utc_still_filters(customer_client):
    response = customer_client.get(
        "/api/v1/invoices/", {"issued_after": "2000-01-01T00:00:00+16:09"}
    )

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_creating_a_plan_is_documented_as_201(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert "201" in schema["paths"]["/api/v1/plans/"]["post"]["responses"]


def test_error_responses_are_documented_in_the_error_shape(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    purchase = schema["paths"]["/api/v1/purchase-plan/"]["post"]["responses"]

    assert {"201", "400", "401", "402", "404", "409"} <= set(purchase)
    assert purchase["402"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
