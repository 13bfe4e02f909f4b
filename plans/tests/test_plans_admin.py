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
