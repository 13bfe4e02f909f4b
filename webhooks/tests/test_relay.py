"""The relay against a real HTTP receiver: signed, at least once, retried, never early."""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta

import pytest
import standardwebhooks
from django.db import transaction
from django.utils import timezone

from webhooks import sending, services
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.relay import WebhookRelay
from webhooks.sending import READ_LIMIT_BYTES

from .conftest import record

pytestmark = pytest.mark.django_db


def relay() -> WebhookRelay:
    return WebhookRelay(timeout_seconds=2)


def test_a_receiver_verifies_the_signature_with_standardwebhooks(endpoint, receiver, customer):
    event = record(customer, "credit.topped_up", amount="500.00")

    assert relay().run_once() == 1

    [request] = receiver.requests
    payload = standardwebhooks.Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload == json.loads(event.payload)
    assert payload["id"] == event.public_id and payload["type"] == "credit.topped_up"
    assert request.headers["webhook-id"] == event.public_id
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["content-type"] == "application/json"
    assert endpoint.secret.startswith("whsec_")
    other = services.secret_generate()
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(other).verify(request.body, request.headers)


def test_each_event_is_delivered_once_and_kept_as_an_attempt(endpoint, receiver, customer):
    events = [record(customer, amount=str(n)) for n in range(3)]
    worker = relay()

    assert worker.run_once() == 3
    assert worker.run_once() == 0

    ids = sorted(request.headers["webhook-id"] for request in receiver.requests)
    assert ids == sorted(event.public_id for event in events)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    attempt = WebhookAttempt.objects.first()
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok"
    assert attempt.latency_ms >= 0 and attempt.error == ""


def test_an_endpoint_gets_only_the_types_it_asked_for(receiver, customer):
    paused_only = services.endpoint_create(url=receiver.url, events=["subscription.paused"])
    record(customer, "credit.topped_up")
    record(customer, "subscription.paused")

    relay().run_once()

    assert [r.verified(paused_only.secret)["type"] for r in receiver.requests] == [
        "subscription.paused"
    ]


def test_an_inactive_endpoint_gets_nothing(endpoint, receiver, customer):
    services.endpoint_update(endpoint_id=endpoint.pk, is_active=False)
    record(customer)

    assert relay().run_once() == 0
    assert receiver.requests == []


def test_a_failing_receiver_is_retried_on_the_schedule_until_it_recovers(
    settings, endpoint, receiver, customer
):
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 300, 1800]
    answers = iter([(500, b"down for maintenance", {}), (503, b"", {})])
    receiver.respond = lambda _: next(answers, (200, b"thanks", {}))
    event = record(customer)
    start = timezone.now()
    worker = relay()

    assert worker.run_once(now=start) == 1  # 500
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.next_attempt_at == start + timedelta(seconds=5)
    assert worker.run_once(now=start + timedelta(seconds=4)) == 0  # not due yet: no hot loop
    assert worker.run_once(now=start + timedelta(seconds=5)) == 1  # 503
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == start + timedelta(seconds=305)
    assert WebhookEndpoint.objects.get().failing_since == start
    assert worker.run_once(now=start + timedelta(seconds=305)) == 1  # 200

    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 3
    assert [r.headers["webhook-id"] for r in receiver.requests] == [event.public_id] * 3
    attempts = list(
        delivery.attempt_log.order_by("id").values_list("status_code", "response_excerpt")
    )
    assert attempts == [(500, "down for maintenance"), (503, ""), (200, "thanks")]
    assert WebhookEndpoint.objects.get().failing_since is None  # a success clears it


def test_a_delivery_fails_once_the_schedule_is_exhausted(settings, endpoint, receiver, customer):
    settings.WEBHOOK_RETRY_SCHEDULE = [1, 2]
    receiver.respond = lambda _: (500, b"", {})
    record(customer)
    start = timezone.now()
    worker = relay()

    for offset in (0, 1, 3):
        assert worker.run_once(now=start + timedelta(seconds=offset)) == 1
    assert worker.run_once(now=start + timedelta(days=10)) == 0

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 3
    assert delivery.next_attempt_at is None
    assert receiver.count() == 3


def test_an_endpoint_that_only_failed_for_three_days_is_disabled_and_says_why(
    settings, endpoint, receiver, customer
):
    settings.WEBHOOK_RETRY_SCHEDULE = [86400, 86400, 86400, 86400]
    receiver.respond = lambda _: (502, b"bad gateway", {})
    record(customer)
    start = timezone.now()
    worker = relay()

    for day in range(3):
        worker.run_once(now=start + timedelta(days=day))
        assert WebhookEndpoint.objects.get().is_active
    worker.run_once(now=start + timedelta(days=3))

    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.disabled_at == start + timedelta(days=3)
    assert "failed since" in endpoint.disabled_reason and "HTTP 502" in endpoint.disabled_reason
    missed = record(customer)
    assert worker.run_once(now=start + timedelta(days=4)) == 0  # disabled: nothing is sent

    # Turned back on, it forgets why and its pending delivery goes out again; an event recorded
    # while it was off was not queued for it (a redelivery sends it).
    receiver.respond = None
    services.endpoint_update(endpoint_id=endpoint.pk, is_active=True)
    assert worker.run_once(now=start + timedelta(days=4)) == 1
    services.event_redeliver(event_id=missed.pk, now=start + timedelta(days=4))
    assert worker.run_once(now=start + timedelta(days=4)) == 1
    endpoint.refresh_from_db()
    assert endpoint.disabled_reason == "" and endpoint.failing_since is None


def test_one_success_between_failures_keeps_the_endpoint(settings, endpoint, receiver, customer):
    settings.WEBHOOK_RETRY_SCHEDULE = [3 * 86400] * 5
    start = timezone.now()
    worker = relay()
    receiver.respond = lambda _: (500, b"", {})
    record(customer)
    worker.run_once(now=start)
    receiver.respond = None
    record(customer)
    worker.run_once(now=start + timedelta(days=2))  # the new one succeeds, the old one waits
    receiver.respond = lambda _: (500, b"", {})
    worker.run_once(now=start + timedelta(days=3))

    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.failing_since == start + timedelta(days=3)


def test_redirects_are_not_followed(endpoint, receiver, customer):
    receiver.respond = lambda r: (
        (307, b"", {"Location": "http://169.254.169.254/latest"}) if r.body else (200, b"", {})
    )
    record(customer)

    relay().run_once()

    assert receiver.count() == 1
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 307
    assert "not followed" in attempt.error
    assert WebhookDelivery.objects.get().status == "pending"


def test_only_the_start_of_a_long_answer_is_read_and_kept(endpoint, receiver, customer):
    receiver.respond = lambda _: (200, b"x" * 5_000_000, {})
    record(customer)

    relay().run_once()

    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 200
    assert 0 < len(attempt.response_excerpt) <= 500 < READ_LIMIT_BYTES
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_a_receiver_slower_than_the_timeout_is_retried(endpoint, receiver, customer):
    release = threading.Event()

    def slow(_):
        release.wait(5)
        return 200, b"too late", {}

    receiver.respond = slow
    record(customer)

    try:
        WebhookRelay(timeout_seconds=1).run_once()
    finally:
        release.set()

    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and "within 1 s" in attempt.error
    assert WebhookDelivery.objects.get().status == "pending"


def test_a_connection_refused_is_an_attempt_retried_later(customer):
    services.endpoint_create(url="http://127.0.0.1:9/nothing-listens")
    record(customer)

    assert relay().run_once() == 1

    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and attempt.error.startswith("ConnectError")
    assert WebhookDelivery.objects.get().attempts == 1


def test_private_addresses_are_refused_at_send_time(settings, endpoint, receiver, customer):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False  # e.g. its host now resolves to 127.0.0.1
    record(customer)

    assert relay().run_once() == 1

    assert receiver.requests == []
    attempt = WebhookAttempt.objects.get()
    assert "127.0.0.1" in attempt.error and "not a public address" in attempt.error


def test_a_rolled_back_change_leaves_no_delivery(endpoint, receiver, customer):
    with pytest.raises(RuntimeError), transaction.atomic():
        record(customer)
        raise RuntimeError("the change failed")

    assert relay().run_once() == 0
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_redelivery_sends_the_same_id_and_body_again(endpoint, receiver, customer):
    event = record(customer)
    worker = relay()
    worker.run_once()

    assert services.event_redeliver(event_id=event.pk) == 1
    worker.run_once()

    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event.public_id
    assert first.body == second.body
    second.verified(endpoint.secret)
    assert WebhookDelivery.objects.get().attempt_log.count() == 2


def test_redelivery_reaches_an_endpoint_added_after_the_event(receiver, customer):
    event = record(customer)
    relay().run_once()  # no endpoint yet: dispatched to nobody
    late = services.endpoint_create(url=receiver.url)

    services.event_redeliver(event_id=event.pk)
    relay().run_once()

    assert [r.verified(late.secret)["id"] for r in receiver.requests] == [event.public_id]


def test_a_rotated_secret_signs_the_next_delivery(endpoint, receiver, customer):
    old = endpoint.secret
    rotated = services.endpoint_rotate_secret(endpoint_id=endpoint.pk)
    record(customer)

    relay().run_once()

    [request] = receiver.requests
    assert rotated.secret != old
    request.verified(rotated.secret)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        request.verified(old)


def test_a_relay_does_not_send_what_another_has_claimed(endpoint, receiver, customer):
    record(customer)
    now = timezone.now()
    services.deliveries_fan_out(now=now)
    claimed = services.deliveries_claim(now=now, limit=10, lease=timedelta(minutes=1))

    assert len(claimed) == 1
    assert relay().run_once(now=now) == 0  # leased
    assert relay().run_once(now=now + timedelta(minutes=1)) == 1  # the lease ran out


def test_a_failing_endpoint_gets_one_delivery_per_pass_and_the_others_all_theirs(
    settings, receiver, customer
):
    settings.WEBHOOK_RETRY_SCHEDULE = [1, 1, 1]
    receiver.respond = lambda r: (500, b"", {}) if r.path.endswith("/down") else (200, b"", {})
    down = services.endpoint_create(url=receiver.url + "/down")
    services.endpoint_create(url=receiver.url + "/up")
    for _ in range(5):
        record(customer)
    start = timezone.now()
    worker = relay()

    worker.run_once(now=start)  # the down endpoint is not failing yet: all ten go out
    assert receiver.count() == 10
    WebhookDelivery.objects.filter(endpoint=down).update(next_attempt_at=start)
    record(customer)

    sent = worker.run_once(now=start + timedelta(seconds=1))

    # The new event reaches the healthy endpoint; the failing one gets a single probe.
    assert sent == 2
    paths = [r.path for r in receiver.requests[10:]]
    assert sorted(paths) == ["/hooks/down", "/hooks/up"]
    receiver.respond = None  # it recovers: the probe succeeds, and the rest follow at once
    worker.run_once(now=start + timedelta(seconds=2))
    assert worker.run_once(now=start + timedelta(seconds=2)) == 5
    assert WebhookDelivery.objects.exclude(status="succeeded").count() == 0


def test_the_request_goes_to_the_address_that_was_checked(
    settings, monkeypatch, receiver, customer
):
    # receiver.example "resolves" to the test's receiver, taken for a public address: the
    # request connects to that address (no second lookup) and names the host in Host.
    port = int(receiver.url.split(":")[2].split("/")[0])
    lookups = []

    def getaddrinfo(host, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(sending.socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(sending, "_is_public", lambda address: True)
    hooked = services.endpoint_create(url=f"http://receiver.example:{port}/hooks")
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    record(customer)

    assert relay().run_once() == 1

    [request] = receiver.requests
    assert request.headers["host"] == f"receiver.example:{port}"
    request.verified(hooked.secret)
    assert [host for host in lookups if host != "127.0.0.1"] == ["receiver.example"]
    assert WebhookDelivery.objects.get().status == "succeeded"
