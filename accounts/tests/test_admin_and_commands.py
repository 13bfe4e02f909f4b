from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.credit import credit_top_up
from accounts.models import PhoneNumber, User

from .factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = User.objects.create_superuser("+8801700000099", "admin-secret-99", name="Admin")
    client.force_login(admin)
    return client


def test_createsuperuser_noinput_reads_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PHONE", "01516100100")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "admin-secret-99")
    monkeypatch.setenv("DJANGO_SUPERUSER_NAME", "Operator")

    call_command("createsuperuser", "--noinput", verbosity=0)

    admin = User.objects.get(phone="+8801516100100")
    assert admin.is_superuser and admin.is_staff
    assert admin.name == "Operator"
    assert admin.check_password("admin-secret-99")
    assert admin.phones.get().is_verified


def test_createsuperuser_interactively(monkeypatch):
    answers = iter(["01516100100", "Operator"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "admin-secret-99")

    call_command("createsuperuser", interactive=True, stdin=None, verbosity=0)

    assert User.objects.get(phone="+8801516100100").is_superuser


def test_a_superuser_logs_in_to_the_api_with_the_phone(api_client):
    User.objects.create_superuser("+8801516100100", "admin-secret-99", name="Operator")

    response = api_client.post(
        "/api/v1/auth/token/", {"phone": "01516100100", "password": "admin-secret-99"}
    )

    assert response.status_code == 200


def test_admin_login_page_accepts_the_phone(client):
    User.objects.create_superuser("+8801516100100", "admin-secret-99", name="Operator")

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "01516100100", "password": "admin-secret-99", "next": "/admin/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_admin_lists_and_searches_customers(admin_client):
    UserFactory(name="Ikram Khan", phone="+8801516100100")
    UserFactory(name="Someone Else")

    response = admin_client.get("/admin/accounts/user/", {"q": "01516100100"})

    assert response.status_code == 200
    assert "Ikram Khan" in response.content.decode()
    assert "Someone Else" not in response.content.decode()


def test_admin_finds_a_customer_by_a_secondary_phone(admin_client):
    customer = UserFactory(name="Ikram Khan")
    PhoneNumber.objects.create(user=customer, phone="+8801917100100", is_verified=True)

    response = admin_client.get("/admin/accounts/user/", {"q": "+8801917100100"})

    assert "Ikram Khan" in response.content.decode()


def test_admin_filters_phones(admin_client):
    customer = UserFactory()
    PhoneNumber.objects.create(user=customer, phone="+8801917100100", is_verified=False)

    response = admin_client.get("/admin/accounts/phonenumber/", {"is_verified__exact": "0"})

    assert response.status_code == 200
    shown = [str(row.phone) for row in response.context["cl"].result_list]
    assert shown == ["+8801917100100"]


def test_admin_customer_page_shows_phones(admin_client):
    customer = UserFactory()

    response = admin_client.get(f"/admin/accounts/user/{customer.pk}/change/")

    assert response.status_code == 200
    assert str(customer.phone) in response.content.decode()


def test_admin_adds_a_customer_with_a_verified_primary_phone(admin_client, api_client):
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "phone": "01516100100",
            "name": "Walk-in Customer",
            "password1": "walk-in-secret-7",
            "password2": "walk-in-secret-7",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    customer = User.objects.get(phone="+8801516100100")
    assert list(customer.phones.values_list("is_primary", "is_verified")) == [(True, True)]
    login = api_client.post(
        "/api/v1/auth/token/", {"phone": "01516100100", "password": "walk-in-secret-7"}
    )
    assert login.status_code == 200


def test_admin_customer_page_shows_balance_and_latest_ledger(admin_client):
    customer = UserFactory()
    for amount in ("10.00", "20.00"):
        credit_top_up(user_id=customer.pk, amount=Decimal(amount))

    page = admin_client.get(f"/admin/accounts/user/{customer.pk}/change/").content.decode()

    assert "30.00" in page
    assert "Latest 20 credit transactions" in page
    assert page.count("Top-up") >= 2


def test_admin_adjusts_credit_through_the_credit_service(admin_client):
    customer = UserFactory()
    credit_top_up(user_id=customer.pk, amount=Decimal("50"))

    response = admin_client.post(
        "/admin/accounts/credittransaction/add/",
        {"user": customer.pk, "amount": "-20.25", "note": "Refund of a duplicate top-up"},
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    customer.refresh_from_db()
    assert customer.credit == Decimal("29.75")
    line = customer.credit_transactions.order_by("-id").first()
    assert (line.kind, line.amount, line.balance_after) == (
        "adjustment",
        Decimal("-20.25"),
        Decimal("29.75"),
    )
    assert line.created_by.is_superuser
    assert line.note == "Refund of a duplicate top-up"


def test_admin_adjustment_below_zero_is_a_form_error(admin_client):
    customer = UserFactory()

    response = admin_client.post(
        "/admin/accounts/credittransaction/add/",
        {"user": customer.pk, "amount": "-1", "note": "oops"},
    )

    assert response.status_code == 200
    assert "credit is only" in response.content.decode()
    customer.refresh_from_db()
    assert customer.credit == 0
    assert not customer.credit_transactions.exists()


def test_admin_ledger_lines_cannot_be_edited_or_deleted(admin_client):
    customer = UserFactory()
    line = credit_top_up(user_id=customer.pk, amount=Decimal("5"))

    admin_client.post(
        f"/admin/accounts/credittransaction/{line.pk}/change/",
        {"user": customer.pk, "amount": "500", "note": "x"},
    )
    delete = admin_client.post(
        f"/admin/accounts/credittransaction/{line.pk}/delete/", {"post": "yes"}
    )

    assert delete.status_code == 403
    line.refresh_from_db()
    assert line.amount == Decimal("5.00")


def test_admin_customer_page_links_to_a_prefilled_adjustment(admin_client):
    customer = UserFactory()

    page = admin_client.get(f"/admin/accounts/user/{customer.pk}/change/").content.decode()
    form = admin_client.get(f"/admin/accounts/credittransaction/add/?user={customer.pk}")

    assert f"/admin/accounts/credittransaction/add/?user={customer.pk}" in page
    assert form.context["adminform"].form.initial["user"] == str(customer.pk)


def test_admin_shows_scheduler_jobs_and_executions(admin_client):
    assert admin_client.get("/admin/django_apscheduler/djangojob/").status_code == 200
    assert admin_client.get("/admin/django_apscheduler/djangojobexecution/").status_code == 200


@pytest.mark.parametrize(
    ("customer_kwargs", "says"),
    [({"phone_verified": False}, "not verified"), ({"is_active": False}, "deactivated")],
)
def test_admin_refuses_to_adjust_a_pending_or_deactivated_account(
    admin_client, customer_kwargs, says
):
    customer = UserFactory(**customer_kwargs)

    response = admin_client.post(
        "/admin/accounts/credittransaction/add/",
        {"user": customer.pk, "amount": "10", "note": "goodwill"},
    )

    assert response.status_code == 200
    assert says in response.content.decode()
    customer.refresh_from_db()
    assert customer.credit == 0
    assert not customer.credit_transactions.exists()


def test_a_refused_adjustment_leaves_the_number_free_for_its_owner(admin_client, api_client):
    pending = UserFactory(phone="+8801516100100", phone_verified=False)
    admin_client.post(
        "/admin/accounts/credittransaction/add/",
        {"user": pending.pk, "amount": "10", "note": "goodwill"},
    )

    response = api_client.post(
        "/api/v1/auth/register/",
        {"phone": "01516100100", "name": "Owner", "password": "correct-horse-42"},
    )

    assert response.status_code == 201
