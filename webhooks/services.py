"""
Changes to webhook endpoints and deliveries: the superuser's endpoint edits, redeliveries, and
the relay's three steps (fan events out, claim due deliveries, record each attempt).

Locks: an endpoint's edits lock its row; the relay locks events (fan-out) or deliveries, and
moves an endpoint's ``failing_since`` with conditional updates. No HTTP request is ever made
inside a transaction: the relay claims deliveries (a lease), sends them outside any
transaction, then records the outcome.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from events.models import Event

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .sending import Outcome

SECRET_BYTES = 32
FAN_OUT_BATCH = 500
# Due deliveries looked at per claim, per delivery taken (some belong to failing endpoints).
CANDIDATES_PER_CLAIM = 4


def secret_generate() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _wake_relay() -> None:
    from . import relay

    relay.wake()


# --- Endpoints ----------------------------------------------------------------------------------


def endpoint_create(
    *, url: str, events: Sequence[str] = (), description: str = "", now: datetime | None = None
) -> WebhookEndpoint:
    """A new active endpoint with a fresh secret; it receives events recorded from now on."""
    return WebhookEndpoint.objects.create(
        url=url,
        events=sorted(set(events)),
        description=description,
        secret=secret_generate(),
        created_at=now or timezone.now(),
    )


@transaction.atomic
def endpoint_update(*, endpoint_id: int, **changes: Any) -> WebhookEndpoint:
    """
    Change an endpoint's url, events, description or is_active. Turning a disabled endpoint
    back on forgets why it was disabled; its pending deliveries go out again.
    """
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    fields = ["updated_at"]
    for name in ("url", "events", "description", "is_active"):
        if name in changes:
            value = sorted(set(changes[name])) if name == "events" else changes[name]
            setattr(endpoint, name, value)
            fields.append(name)
    if changes.get("is_active") is True:
        endpoint.failing_since = endpoint.disabled_at = None
        endpoint.disabled_reason = ""
        fields += ["failing_since", "disabled_at", "disabled_reason"]
        transaction.on_commit(_wake_relay)
    endpoint.save(update_fields=fields)
    return endpoint


def endpoint_delete(*, endpoint_id: int) -> None:
    """Delete an endpoint with its deliveries and their attempts."""
    WebhookEndpoint.objects.filter(pk=endpoint_id).delete()


@transaction.atomic
def endpoint_rotate_secret(*, endpoint_id: int) -> WebhookEndpoint:
    """A new secret: deliveries signed from now on use it, the old one stops verifying."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    endpoint.secret = secret_generate()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


# --- Redelivery ----------------------------------------------------------------------------------


def _requeue(delivery: WebhookDelivery, now: datetime) -> None:
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.delivered_at = None
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "delivered_at"])


@transaction.atomic
def event_redeliver(*, event_id: int, now: datetime | None = None) -> int:
    """
    Send an event again to every active endpoint that wants its type (those it never reached
    too), with the same ``webhook-id`` and body; returns how many deliveries were queued.
    """
    now = now or timezone.now()
    event = Event.objects.get(pk=event_id)
    endpoints = [e for e in WebhookEndpoint.objects.filter(is_active=True) if e.wants(event.type)]
    existing = {
        d.endpoint_id: d
        for d in WebhookDelivery.objects.select_for_update().filter(
            event=event, endpoint__in=endpoints
        )
    }
    for endpoint in endpoints:
        delivery = existing.get(endpoint.pk)
        if delivery is None:
            WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=now)
        else:
            _requeue(delivery, now)
    transaction.on_commit(_wake_relay)
    return len(endpoints)


@transaction.atomic
def deliveries_redeliver(*, delivery_ids: Sequence[int], now: datetime | None = None) -> int:
    """Send these deliveries again (the admin's action), whatever became of them."""
    now = now or timezone.now()
    deliveries = list(WebhookDelivery.objects.select_for_update().filter(pk__in=delivery_ids))
    for delivery in deliveries:
        _requeue(delivery, now)
    transaction.on_commit(_wake_relay)
    return len(deliveries)


# --- The relay's steps ---------------------------------------------------------------------------


def deliveries_fan_out(*, now: datetime | None = None, batch: int = FAN_OUT_BATCH) -> int:
    """
    One delivery per (undispatched event, active endpoint that wants it); the events are then
    dispatched. Events another relay is fanning out are skipped (SKIP LOCKED). Returns how
    many events were dispatched.
    """
    now = now or timezone.now()
    # A read first: nothing to do is the usual case, and needs no transaction (nor, on SQLite,
    # the database's write lock).
    if not Event.objects.filter(dispatched_at__isnull=True).exists():
        return 0
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(dispatched_at__isnull=True)
            .order_by("id")
            .only("id", "type")[:batch]
        )
        if not events:
            return 0
        endpoints = list(WebhookEndpoint.objects.filter(is_active=True).only("id", "events"))
        WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    event_id=event.pk, endpoint_id=endpoint.pk, next_attempt_at=now, created_at=now
                )
                for event in events
                for endpoint in endpoints
                if endpoint.wants(event.type)
            ],
            ignore_conflicts=True,  # a redelivery may have created one already
        )
        Event.objects.filter(pk__in=[event.pk for event in events]).update(dispatched_at=now)
    return len(events)


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for sending, with what sending needs (read with the claim)."""

    delivery_id: int
    lease_until: datetime
    url: str
    secret: str
    message_id: str
    body: str


def deliveries_claim(*, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """
    Take up to ``limit`` due deliveries of active endpoints, oldest due first, for ``lease``:
    another relay skips them (SKIP LOCKED now, the lease afterwards) until it runs out. Only
    one of a failing endpoint's deliveries is taken; the others wait for it to succeed.
    """
    lease_until = now + lease
    due = (
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
            endpoint__is_active=True,
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .order_by("next_attempt_at", "id")
    )
    if not due.exists():  # the usual case: no transaction
        return []
    with transaction.atomic():
        candidates = due.select_for_update(skip_locked=True, of=("self",)).values_list(
            "id", "endpoint_id", "endpoint__failing_since"
        )[: limit * CANDIDATES_PER_CLAIM]
        ids, probing = [], set()
        for delivery_id, endpoint_id, failing_since in candidates:
            # An endpoint that is failing gets one delivery per pass (a probe): a dead or slow
            # receiver holds one thread for one timeout, not every thread for a backlog's worth.
            if failing_since is not None:
                if endpoint_id in probing:
                    continue
                probing.add(endpoint_id)
            ids.append(delivery_id)
            if len(ids) == limit:
                break
        if not ids:
            return []
        WebhookDelivery.objects.filter(pk__in=ids).update(lease_until=lease_until)
        rows = WebhookDelivery.objects.filter(pk__in=ids).values_list(
            "id", "endpoint__url", "endpoint__secret", "event__public_id", "event__payload"
        )
    order = {delivery_id: position for position, delivery_id in enumerate(ids)}
    return sorted(
        (
            Claimed(pk, lease_until, url, secret, public_id, payload)
            for pk, url, secret, public_id, payload in rows
        ),
        key=lambda claimed: order[claimed.delivery_id],
    )


def retry_delay(attempts: int) -> timedelta | None:
    """The wait after failed attempt number ``attempts``; None once the schedule is done."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if attempts > len(schedule):
        return None
    return timedelta(seconds=float(schedule[attempts - 1]))


@dataclass(frozen=True)
class Sent:
    """What came of sending one claimed delivery, and when."""

    claimed: Claimed
    outcome: Outcome
    at: datetime


@transaction.atomic
def deliveries_record(*, sent: Sequence[Sent]) -> None:
    """
    Keep each attempt and move its delivery on: delivered, retried later, or failed once the
    schedule is exhausted; one transaction for a batch. Each endpoint's ``failing_since``
    follows; an endpoint that has only failed for ``WEBHOOK_DISABLE_AFTER_SECONDS`` is
    disabled. A delivery whose lease was lost (requeued or taken over meanwhile) keeps the
    attempt but is not moved; one whose endpoint was deleted keeps nothing.
    """
    ids = sorted({one.claimed.delivery_id for one in sent})
    deliveries = {
        delivery.pk: delivery
        for delivery in WebhookDelivery.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
    }
    sent = [one for one in sent if one.claimed.delivery_id in deliveries]
    WebhookAttempt.objects.bulk_create(
        WebhookAttempt(
            delivery_id=one.claimed.delivery_id,
            attempted_at=one.at,
            url=one.claimed.url,
            status_code=one.outcome.status_code,
            latency_ms=one.outcome.latency_ms,
            response_excerpt=one.outcome.excerpt,
            error=one.outcome.error,
        )
        for one in sent
    )
    for one in sent:
        delivery = deliveries[one.claimed.delivery_id]
        if delivery.lease_until != one.claimed.lease_until or delivery.status != "pending":
            continue
        delivery.attempts += 1
        changes: dict[str, Any] = {"attempts": delivery.attempts, "lease_until": None}
        if one.outcome.ok:
            changes.update(status="succeeded", delivered_at=one.at, next_attempt_at=None)
        else:
            delay = retry_delay(delivery.attempts)
            if delay is None:
                changes.update(status="failed", next_attempt_at=None)
            else:
                changes.update(next_attempt_at=one.at + delay)
        # One plain UPDATE each (bulk_update's CASE costs more to build than it saves).
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)
    by_endpoint: dict[int, list[Sent]] = {}
    for one in sent:
        by_endpoint.setdefault(deliveries[one.claimed.delivery_id].endpoint_id, []).append(one)
    for endpoint_id, outcomes in by_endpoint.items():
        # In the order they were sent: a success clears failing_since, failures after it count.
        outcomes.sort(key=lambda one: one.at)
        last_ok = max((i for i, one in enumerate(outcomes) if one.outcome.ok), default=None)
        if last_ok is not None:
            _endpoint_follow(endpoint_id, outcomes[last_ok].outcome, outcomes[last_ok].at)
        failures = outcomes[(last_ok + 1 if last_ok is not None else 0) :]
        if failures:
            _endpoint_follow(endpoint_id, failures[0].outcome, failures[0].at)
            if len(failures) > 1:
                _endpoint_follow(endpoint_id, failures[-1].outcome, failures[-1].at)


def _endpoint_follow(endpoint_id: int, outcome: Outcome, now: datetime) -> None:
    """Conditional updates: concurrent attempts to one endpoint never wait for each other."""
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint_id)
    if outcome.ok:
        endpoints.filter(failing_since__isnull=False).update(failing_since=None, updated_at=now)
        return
    if endpoints.filter(failing_since__isnull=True).update(failing_since=now, updated_at=now):
        return
    since = now - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
    endpoint = endpoints.filter(is_active=True, failing_since__lte=since).first()
    if endpoint is None:
        return
    failing_for = now - endpoint.failing_since
    last = outcome.error or f"HTTP {outcome.status_code}"
    reason = (
        f"Every delivery failed since {endpoint.failing_since.isoformat()}"
        f" ({failing_for.days} days, {failing_for.seconds // 3600} hours); last: {last}"
    )
    endpoints.filter(is_active=True, failing_since=endpoint.failing_since).update(
        is_active=False, disabled_at=now, disabled_reason=reason[:500], updated_at=now
    )


# Attempts of finished deliveries are kept this long for operators, then forgotten; the delivery
# row itself (who got which event, and when) stays.
ATTEMPT_HISTORY = timedelta(days=30)


def webhook_attempts_prune(*, now: datetime | None = None) -> int:
    """Delete attempts older than ``ATTEMPT_HISTORY`` of deliveries that are no longer pending."""
    cutoff = (now or timezone.now()) - ATTEMPT_HISTORY
    finished = WebhookAttempt.objects.filter(attempted_at__lt=cutoff).exclude(
        delivery__status=WebhookDelivery.Status.PENDING
    )
    deleted, _ = finished.delete()
    return deleted
