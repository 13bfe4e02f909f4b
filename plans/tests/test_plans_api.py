from decimal import Decimal

import pytest

from plans.models import Plan

pytestmark = pytest.mark.django_db

PLANS = "/api/v1/plans/"


def detail(plan_id) -> str:
    return f"{PLANS}{plan_id}/"


def test_customers_list_plans_in_seed_000s_shape(customer_client, plan):
    response = customer_client.get(PLANS)

    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": plan.pk,
                "name": "Globalnet Bronze",
                "amount": "500.00",
                "payment_cycle": 30,
                "total_valid_months": 12,
                "is_cancellable": False,
                "is_archived": False,
            }
        ],
    }


def test_listing_plans_needs_a_token(api_client, plan):
    response = api_client.get(PLANS)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_plan_detail(customer_client, plan):
    response = customer_client.get(detail(plan.pk).rstrip("/"))

    assert response.status_code == 200
    assert response.json()["name"] == "Globalnet Bronze"


@pytest.mark.parametrize("plan_id", ["999", "99999999999999999999999", "abc", "-1"])
def test_unknown_plan_is_404(customer_client, db, plan_id):
    response = customer_client.get(detail(plan_id))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_superuser_creates_a_plan_with_seed_000s_defaults(superuser_client):
    response = superuser_client.post(
        PLANS, {"name": "Globalnet Gold", "amount": 1200, "is_cancellable": True}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["amount"] == "1200.00"
    assert (body["payment_cycle"], body["total_valid_months"]) == (30, 12)
    assert body["is_cancellable"] is True
    assert Plan.objects.get(pk=body["id"]).amount == Decimal("1200.00")


def test_defaults_when_only_name_and_amount_are_given(superuser_client):
    body = superuser_client.post(PLANS, {"name": "Basic", "amount": "9.99"}).json()

    assert body["is_cancellable"] is False
    assert (body["payment_cycle"], body["total_valid_months"]) == (30, 12)


@pytest.mark.parametrize(
    ("method", "url_of"),
    [
        ("post", lambda plan: PLANS),
        ("put", detail),
        ("patch", detail),
        ("delete", detail),
    ],
)
def test_customers_cannot_change_the_catalogue(customer_client, plan, method, url_of):
    payload = {"name": "Hacked", "amount": "1.00"}

    response = getattr(customer_client, method)(url_of(plan.pk), payload)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    plan.refresh_from_db()
    assert (plan.name, plan.archived_at) == ("Globalnet Bronze", None)


def test_anonymous_writes_are_401(api_client, plan):
    assert api_client.post(PLANS, {"name": "x", "amount": "1"}).status_code == 401
    assert api_client.delete(detail(plan.pk)).status_code == 401


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"amount": "10.00"}, "name"),
        ({"name": "", "amount": "10.00"}, "name"),
        ({"name": "x" * 101, "amount": "10.00"}, "name"),
        ({"name": "P"}, "amount"),
        ({"name": "P", "amount": "0"}, "amount"),
        ({"name": "P", "amount": "-5"}, "amount"),
        ({"name": "P", "amount": "10.001"}, "amount"),
        ({"name": "P", "amount": "abc"}, "amount"),
        ({"name": "P", "amount": "NaN"}, "amount"),
        ({"name": "P", "amount": "Infinity"}, "amount"),
        ({"name": "P", "amount": "10000000000.00"}, "amount"),
        ({"name": "P", "amount": True}, "amount"),
        ({"name": "P", "amount": "10", "payment_cycle": 0}, "payment_cycle"),
        ({"name": "P", "amount": "10", "payment_cycle": "thirty"}, "payment_cycle"),
        ({"name": "P", "amount": "10", "payment_cycle": 10**12}, "payment_cycle"),
        ({"name": "P", "amount": "10", "total_valid_months": 0}, "total_valid_months"),
        ({"name": "P", "amount": "10", "total_valid_months": 1.5}, "total_valid_months"),
        ({"name": "P", "amount": "10", "is_cancellable": "maybe"}, "is_cancellable"),
    ],
)
def test_invalid_plans_get_field_errors(superuser_client, payload, field):
    response = superuser_client.post(PLANS, payload, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert not Plan.objects.exists()


def test_put_as_in_seed_000_changes_name_and_amount(superuser_client, plan):
    response = superuser_client.put(
        detail(plan.pk).rstrip("/"), {"name": "Globalnet Gold", "amount": 1500}
    )

    assert response.status_code == 200
    assert response.json()["amount"] == "1500.00"
    assert response.json()["payment_cycle"] == 30


def test_put_needs_name_and_amount(superuser_client, plan):
    response = superuser_client.put(detail(plan.pk), {"amount": 1500})

    assert response.status_code == 400
    assert "name" in response.json()["errors"]


def test_patch_changes_only_what_is_sent(superuser_client, plan):
    response = superuser_client.patch(detail(plan.pk), {"payment_cycle": 7})

    assert response.status_code == 200
    assert (response.json()["payment_cycle"], response.json()["amount"]) == (7, "500.00")


def test_patch_validates_too(superuser_client, plan):
    response = superuser_client.patch(detail(plan.pk), {"amount": "-1"})

    assert response.status_code == 400
    assert "amount" in response.json()["errors"]


def test_write_to_an_unknown_plan_is_404(superuser_client, db):
    assert superuser_client.patch(detail(404), {"amount": "1"}).status_code == 404
    assert superuser_client.delete(detail(404)).status_code == 404


def test_delete_archives_the_plan(superuser_client, customer_client, plan):
    response = superuser_client.delete(detail(plan.pk).rstrip("/"))

    assert response.status_code == 204
    plan.refresh_from_db()
    assert plan.archived_at is not None
    assert customer_client.get(PLANS).json()["count"] == 0
    assert customer_client.get(detail(plan.pk)).status_code == 404


def test_superusers_list_archived_plans_and_restore_one(superuser_client, customer_client, plan):
    superuser_client.delete(detail(plan.pk))

    archived = superuser_client.get(PLANS, {"archived": "true"}).json()
    assert [p["id"] for p in archived["results"]] == [plan.pk]
    assert archived["results"][0]["is_archived"] is True
    assert superuser_client.get(PLANS).json()["count"] == 0

    restored = superuser_client.patch(detail(plan.pk), {"is_archived": False})

    assert restored.status_code == 200
    assert restored.json()["is_archived"] is False
    assert customer_client.get(PLANS).json()["count"] == 1


def test_customers_cannot_see_archived_plans(customer_client, plan):
    plan.archived_at = "2026-01-01T00:00:00Z"
    plan.save()

    assert customer_client.get(PLANS, {"archived": "true"}).json()["count"] == 0


def test_pagination_with_page_size(customer_client, db):
    Plan.objects.bulk_create(Plan(name=f"Plan {n}", amount="10.00") for n in range(25))

    first = customer_client.get(PLANS).json()
    assert (first["count"], len(first["results"])) == (25, 20)
    assert first["next"] and first["previous"] is None

    small = customer_client.get(PLANS, {"page_size": 10, "page": 3}).json()
    assert [p["name"] for p in small["results"]] == [f"Plan {n}" for n in range(20, 25)]

    capped = customer_client.get(PLANS, {"page_size": 1000}).json()
    assert len(capped["results"]) == 25


def test_a_page_past_the_end_is_404(customer_client, plan):
    response = customer_client.get(PLANS, {"page": 9})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_plan_list_queries_do_not_grow_with_the_page(
    customer_client, db, django_assert_max_num_queries
):
    Plan.objects.bulk_create(Plan(name=f"Plan {n}", amount="10.00") for n in range(100))

    for size in (1, 100):
        with django_assert_max_num_queries(4):
            assert len(customer_client.get(PLANS, {"page_size": size}).json()["results"]) == size


@pytest.mark.parametrize(
    "terms",
    [
        {"payment_cycle": 3661},
        {"total_valid_months": 1201},
        # Each within its limit, but the plan would end past what a date can hold.
        {"payment_cycle": 3660, "total_valid_months": 1200},
        {"payment_cycle": 3660, "total_valid_months": 101},
    ],
)
def test_plans_out_of_range_are_refused_with_a_sentence(superuser_client, terms):
    response = superuser_client.post(PLANS, {"name": "P", "amount": "10", **terms}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    field, messages = next(iter(body["errors"].items()))
    assert field in {*terms, "non_field_errors"}
    assert any(limit in messages[0] for limit in ("3660", "1200", "366000"))
    assert not Plan.objects.exists()


def test_the_limits_messages_are_unchanged(superuser_client):
    response = superuser_client.post(
        PLANS,
        {"name": "P", "amount": "10000000000", "payment_cycle": 3661, "total_valid_months": 0},
        format="json",
    )

    assert response.json()["errors"] == {
        "amount": ["Ensure that there are no more than 10 digits before the decimal point."],
        "payment_cycle": ["Ensure this value is less than or equal to 3660."],
        "total_valid_months": ["Ensure this value is greater than or equal to 1."],
    }


def test_a_change_that_makes_the_plan_too_long_is_refused(superuser_client, plan):
    superuser_client.patch(detail(plan.pk), {"payment_cycle": 3660}, format="json")

    response = superuser_client.patch(detail(plan.pk), {"total_valid_months": 101}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "non_field_errors": [
            "A plan lasts at most 366000 days: payment_cycle times total_valid_months is too large."
        ]
    }
    plan.refresh_from_db()
    assert (plan.payment_cycle, plan.total_valid_months) == (3660, 12)


def test_a_plan_at_the_limits_is_accepted(superuser_client):
    response = superuser_client.post(
        PLANS,
        {"name": "P", "amount": "9999999999.99", "payment_cycle": 305, "total_valid_months": 1200},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["amount"] == "9999999999.99"
