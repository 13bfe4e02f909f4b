"""The superuser API: endpoints and the event stream."""

from __future__ import annotations

import json

import pytest

from conftest import ApiClient
from webhooks.models import WebhookDelivery, WebhookEndpoint

from .conftest import record

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhooks/endpoints/"
EVENTS = "/api/v1/webhooks/events/"


def test_a_superuser_adds_an_endpoint_and_gets_its_secret(superuser_client, receiver):
    body = {"url": receiver.url, "events": ["subscription.suspended"], "description": "Network"}

    response = superuser_client.post(ENDPOINTS, body)

    assert response.status_code == 201, response.json()
    answer = response.json()
    assert {"id", "url", "events", "description", "is_active", "secret", "created_at"} <= set(
        answer
    )
    assert answer["url"] == receiver.url and answer["events"] == ["subscription.suspended"]
    assert answer["is_active"] is True and answer["secret"].startswith("whsec_")
    assert WebhookEndpoint.objects.get().secret == answer["secret"]


def test_events_left_out_means_every_type(superuser_client, receiver):
    response = superuser_client.post(ENDPOINTS, {"url": receiver.url})

    assert response.status_code == 201
    assert response.json()["events"] == []


def test_an_unknown_event_type_is_refused(superuser_client, receiver):
    response = superuser_client.post(ENDPOINTS, {"url": receiver.url, "events": ["invoice.eaten"]})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["errors"] == {
        "events": ['Item 0: "invoice.eaten" is not a valid choice.']
    }
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://localhost/hooks",
        "ftp://93.184.215.14/hooks",
    ],
)
def test_private_addresses_and_other_schemes_are_refused(settings, superuser_client, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    response = superuser_client.post(ENDPOINTS, {"url": url})

    assert response.status_code == 400, response.json()
    assert "url" in response.json()["errors"]


def test_a_public_address_is_accepted(settings, superuser_client):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    response = superuser_client.post(ENDPOINTS, {"url": "https://93.184.215.14/hooks"})

    assert response.status_code == 201, response.json()


def test_customers_get_403_and_strangers_401(customer, receiver):
    client = ApiClient()
    assert client.get(ENDPOINTS).status_code == 401
    client.force_authenticate(customer)

    for response in (
        client.get(ENDPOINTS),
        client.post(ENDPOINTS, {"url": receiver.url}),
        client.get(EVENTS),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"


def test_list_detail_patch_rotate_and_delete(superuser_client, receiver, endpoint):
    listed = superuser_client.get(ENDPOINTS).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == endpoint.pk
    detail = f"{ENDPOINTS}{endpoint.pk}/"
    assert superuser_client.get(detail).json()["url"] == receiver.url

    patched = superuser_client.patch(detail, {"events": ["invoice.paid"], "is_active": False})
    assert patched.status_code == 200
    assert patched.json()["events"] == ["invoice.paid"] and patched.json()["is_active"] is False

    rotated = superuser_client.post(f"{detail}rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != endpoint.secret
    assert WebhookEndpoint.objects.get().secret == rotated.json()["secret"]

    assert superuser_client.delete(detail).status_code == 204
    assert superuser_client.get(detail).status_code == 404


def test_events_are_listed_newest_first_with_their_payload(superuser_client, customer):
    first = record(customer, "credit.topped_up", amount="500.00")
    second = record(customer, "subscription.paused")

    response = superuser_client.get(EVENTS)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [event["id"] for event in results] == [second.public_id, first.public_id]
    assert results[1] == json.loads(first.payload)
    assert results[1]["customer"] == {"id": customer.pk, "phone": str(customer.phone)}
    assert results[1]["sequence"] == 1 and results[0]["sequence"] == 2


def test_events_filter_by_type_and_customer(superuser_client, customer):
    from accounts.tests.factories import UserFactory

    other = UserFactory()
    mine = record(customer, "credit.topped_up")
    record(customer, "subscription.paused")
    record(other, "credit.topped_up")

    response = superuser_client.get(EVENTS, {"type": "credit.topped_up", "customer": customer.pk})

    assert [event["id"] for event in response.json()["results"]] == [mine.public_id]
    assert superuser_client.get(EVENTS, {"type": "nope"}).status_code == 400
    assert superuser_client.get(EVENTS, {"customer": "abc"}).status_code == 400


def test_events_list_queries_do_not_grow_with_the_page(
    superuser_client, customer, django_assert_max_num_queries
):
    for _ in range(15):
        record(customer)

    with django_assert_max_num_queries(4):
        response = superuser_client.get(EVENTS)
    assert len(response.json()["results"]) == 15


def test_an_event_by_its_public_id_and_its_redelivery(superuser_client, customer, endpoint):
    event = record(customer)

    detail = superuser_client.get(f"{EVENTS}{event.public_id}/")
    assert detail.status_code == 200 and detail.json() == json.loads(event.payload)
    assert superuser_client.get(f"{EVENTS}evt_{'0' * 32}/").status_code == 404
    assert superuser_client.get(f"{EVENTS}{event.pk}/").status_code == 404

    response = superuser_client.post(f"{EVENTS}{event.public_id}/redeliver/")

    assert response.status_code == 202
    assert response.json()["deliveries"] == 1
    assert WebhookDelivery.objects.get().status == "pending"
