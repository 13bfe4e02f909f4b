import pytest

from accounts.models import User
from plans.models import Plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("+8801700000099", "admin-pass-99", name="A"))
    return client


def test_admin_lists_searches_and_filters_plans(admin_client, plan):
    Plan.objects.create(name="Other", amount="1.00", archived_at="2026-01-01T00:00:00Z")

    listed = admin_client.get("/admin/plans/plan/", {"q": "Bronze"})
    active = admin_client.get("/admin/plans/plan/", {"archived_at__isempty": "1"})

    assert [p.name for p in listed.context["cl"].result_list] == ["Globalnet Bronze"]
    assert [p.name for p in active.context["cl"].result_list] == ["Globalnet Bronze"]


def test_admin_archives_and_restores_plans(admin_client, plan):
    admin_client.post("/admin/plans/plan/", {"action": "archive", "_selected_action": [plan.pk]})
    plan.refresh_from_db()
    assert plan.archived_at is not None

    admin_client.post("/admin/plans/plan/", {"action": "restore", "_selected_action": [plan.pk]})
    plan.refresh_from_db()
    assert plan.archived_at is None


def test_admin_cannot_delete_plans(admin_client, plan):
    response = admin_client.post(f"/admin/plans/plan/{plan.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Plan.objects.filter(pk=plan.pk).exists()


def add_form(**terms):
    return {
        "name": "Long",
        "amount": "10.00",
        "payment_cycle": 30,
        "total_valid_months": 12,
        "created_at_0": "2026-11-23",
        "created_at_1": "12:00:00",
        **terms,
    }


def test_admin_adds_a_plan_within_the_limits(admin_client):
    response = admin_client.post(
        "/admin/plans/plan/add/", add_form(payment_cycle=3660, total_valid_months=100)
    )

    assert response.status_code == 302
    assert Plan.objects.get().payment_cycle == 3660


@pytest.mark.parametrize(
    ("terms", "field", "message"),
    [
        ({"payment_cycle": 10**9}, "payment_cycle", "less than or equal to 3660"),
        ({"payment_cycle": 0}, "payment_cycle", "greater than or equal to 1"),
        ({"total_valid_months": 1201}, "total_valid_months", "less than or equal to 1200"),
        ({"payment_cycle": 3660, "total_valid_months": 1200}, "__all__", "at most 366000 days"),
        ({"amount": "10.001"}, "amount", "no more than 2 decimal places"),
        ({"amount": "0.00"}, "amount", "greater than or equal to 0.01"),
    ],
)
def test_admin_add_form_refuses_a_plan_out_of_range(admin_client, terms, field, message):
    response = admin_client.post("/admin/plans/plan/add/", add_form(**terms))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert not Plan.objects.exists()
