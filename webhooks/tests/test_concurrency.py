"""Relays racing each other on PostgreSQL: no delivery is sent twice at once, none is missed."""

from __future__ import annotations

from collections import Counter

import pytest

from conftest import at_once
from webhooks import services
from webhooks.models import WebhookAttempt, WebhookDelivery
from webhooks.relay import WebhookRelay

from .conftest import record

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def drain(relay: WebhookRelay) -> int:
    sent = 0
    while True:
        done = relay.run_once()
        if not done:
            return sent
        sent += done


def test_relays_at_once_never_send_one_delivery_twice(receiver, endpoint, customer):
    second = services.endpoint_create(url=receiver.url + "/second")
    events = [record(customer, amount=str(n)) for n in range(40)]
    relays = [WebhookRelay(workers=2, timeout_seconds=5) for _ in range(3)]

    sent = at_once(*(lambda relay=relay: drain(relay) for relay in relays))

    assert sum(sent) == 80
    per_endpoint = Counter(
        (request.path, request.headers["webhook-id"]) for request in receiver.requests
    )
    assert len(receiver.requests) == 80
    assert all(count == 1 for count in per_endpoint.values())
    assert {request.headers["webhook-id"] for request in receiver.requests} == {
        event.public_id for event in events
    }
    assert WebhookAttempt.objects.count() == 80
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    assert WebhookDelivery.objects.filter(endpoint=second).count() == 40
