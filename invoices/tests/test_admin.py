from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from invoices import billing
from invoices.models import Invoice

from .conftest import top_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db):
    browser = Client()  # this package's `client` fixture is an API client
    browser.force_login(User.objects.create_superuser("+8801700000099", "admin-pw-99", name="A"))
    return browser


@pytest.fixture
def subscription(customer, gold):
    top_up(customer, "1200")
    return billing.subscription_purchase(user_id=customer.pk, plan_id=gold.pk, now=timezone.now())


def act(admin_client, action, subscription):
    return admin_client.post(
        "/admin/subscriptions/subscription/",
        {"action": action, "_selected_action": [subscription.pk]},
        follow=True,
    )


def test_admin_lists_and_filters_subscriptions(admin_client, subscription):
    response = admin_client.get("/admin/subscriptions/subscription/", {"status__exact": "active"})

    assert [s.pk for s in response.context["cl"].result_list] == [subscription.pk]
    assert (
        admin_client.get(f"/admin/subscriptions/subscription/{subscription.pk}/change/").status_code
        == 200
    )


def test_admin_pauses_resumes_and_cancels_through_the_engine(admin_client, subscription):
    act(admin_client, "pause", subscription)
    subscription.refresh_from_db()
    assert subscription.status == "paused"

    act(admin_client, "resume", subscription)
    subscription.refresh_from_db()
    assert subscription.status == "active"

    act(admin_client, "cancel", subscription)
    subscription.refresh_from_db()
    assert subscription.status == "cancelled"


def test_admin_action_refusals_are_shown_not_raised(admin_client, customer, bronze):
    top_up(customer, "500")
    subscription = billing.subscription_purchase(
        user_id=customer.pk, plan_id=bronze.pk, now=timezone.now()
    )

    response = act(admin_client, "cancel", subscription)

    page = response.content.decode()
    # Worded for the operator (the customer's API says "Plan is not cancellable").
    assert f"Globalnet Bronze · {customer.name} (#{subscription.pk}): its plan can" in page
    assert "pause it instead" in page
    subscription.refresh_from_db()
    assert subscription.status == "active"


def test_admin_finds_an_invoice_by_its_number(admin_client, subscription):
    invoice = Invoice.objects.get()

    response = admin_client.get("/admin/invoices/invoice/", {"q": invoice.number})

    assert [i.pk for i in response.context["cl"].result_list] == [invoice.pk]
    assert response.context["cl"].result_list[0].amount == Decimal("1200.00")


def test_admin_invoices_are_read_only(admin_client, subscription):
    invoice = Invoice.objects.get()

    assert admin_client.get("/admin/invoices/invoice/add/").status_code == 403
    assert (
        admin_client.post(
            f"/admin/invoices/invoice/{invoice.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
