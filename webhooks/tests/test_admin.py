"""The admin: endpoints, deliveries with every attempt (read-only), sending again."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.relay import WebhookRelay

from .conftest import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(db) -> Client:
    browser = Client()
    browser.force_login(User.objects.create_superuser("+8801700000099", "admin-pw-99", name="A"))
    return browser


@pytest.fixture
def delivered(endpoint, receiver, customer):
    receiver.respond = lambda _: (503, b"try later", {})
    event = record(customer)
    WebhookRelay(timeout_seconds=2).run_once()
    return WebhookDelivery.objects.get(event=event)


def test_an_endpoint_added_in_the_admin_gets_a_secret(admin_browser, receiver):
    response = admin_browser.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"url": receiver.url, "events": ["invoice.paid"], "description": "ERP", "is_active": "on"},
        follow=True,
    )

    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.events == ["invoice.paid"]


def test_the_admin_refuses_a_private_address(settings, admin_browser):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    response = admin_browser.post(
        "/admin/webhooks/webhookendpoint/add/", {"url": "http://10.0.0.5/hooks", "is_active": "on"}
    )

    assert response.status_code == 200
    assert "not a public address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_admin_shows_each_attempt_of_a_delivery(admin_browser, endpoint, delivered):
    listing = admin_browser.get("/admin/webhooks/webhookendpoint/")
    assert listing.status_code == 200 and endpoint.url in listing.content.decode()

    page = admin_browser.get(f"/admin/webhooks/webhookdelivery/{delivered.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "503" in text and "try later" in text
    attempts = admin_browser.get("/admin/webhooks/webhookattempt/")
    assert attempts.status_code == 200 and "503" in attempts.content.decode()


def test_the_admin_sends_a_delivery_again(admin_browser, receiver, delivered):
    receiver.respond = None
    WebhookDelivery.objects.filter(pk=delivered.pk).update(status="failed", next_attempt_at=None)

    response = admin_browser.post(
        "/admin/webhooks/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [delivered.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert WebhookDelivery.objects.get().status == "pending"
    WebhookRelay(timeout_seconds=2).run_once()
    assert WebhookDelivery.objects.get().status == "succeeded"
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
