"""
The customer pages of the admin: groups and per-user permissions appear only where they mean
something, amounts are formatted, and the credit adjustment's refusals speak to the operator.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.credit import credit_top_up
from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db) -> User:
    return User.objects.create_superuser("+8801516100100", "operator-pw-9", name="Operator")


@pytest.fixture
def browser(operator) -> Client:
    browser = Client()
    browser.force_login(operator)
    return browser


@pytest.fixture
def customer(db) -> User:
    return User.objects.create_user("+8801711000001", None, phone_verified=True, name="Ikram Khan")


def sections(browser: Client) -> set[str]:
    app_list = browser.get("/admin/").context["app_list"]
    return {model["object_name"] for app in app_list for model in app["models"]}


def fields_of(browser: Client, user: User) -> set[str]:
    form = browser.get(f"/admin/accounts/user/{user.pk}/change/").context["adminform"].form
    return set(form.fields)


def test_groups_appear_once_one_exists(browser):
    assert "Group" not in sections(browser)
    assert browser.get("/admin/auth/group/add/").status_code == 200  # the first one is made here

    Group.objects.create(name="Support")

    assert "Group" in sections(browser)


def test_a_customer_page_has_no_permissions_to_grant(browser, customer):
    fields = fields_of(browser, customer)

    assert {"is_active", "is_staff", "is_superuser"} <= fields
    assert "user_permissions" not in fields
    assert "groups" not in fields


def test_staff_who_are_not_superusers_get_their_permissions_and_groups(browser, customer):
    staff = User.objects.create_user(
        "+8801711000002", "staff-pw-99", phone_verified=True, name="Rafi", is_staff=True
    )
    assert "user_permissions" in fields_of(browser, staff)
    assert "groups" not in fields_of(browser, staff)

    Group.objects.create(name="Support")
    customer.user_permissions.add(Permission.objects.get(codename="view_plan"))

    assert "groups" in fields_of(browser, staff)
    assert "user_permissions" in fields_of(browser, customer)  # one they have is shown


def test_the_customer_list_formats_credit(browser, customer):
    credit_top_up(user_id=customer.pk, amount=Decimal("12500"))

    page = browser.get("/admin/accounts/user/").content.decode()

    assert '<td class="field-money_credit">12,500.00</td>' in page


def test_an_adjustment_beyond_the_credit_says_how_much_may_go(browser, customer):
    credit_top_up(user_id=customer.pk, amount=Decimal("1500"))

    response = browser.post(
        "/admin/accounts/credittransaction/add/",
        {"user": customer.pk, "amount": "-2000", "note": "Refund"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["amount"] == [
        "The customer's credit is only 1,500.00: remove at most that."
    ]
    customer.refresh_from_db()
    assert customer.credit == Decimal("1500.00")
