"""
A whole subscription life, as the operator's receiver sees it: every event once, verified,
in each customer's order; never before its change commits; none lost across a restart.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from accounts.credit import credit_top_up
from conftest import wait_for
from events.models import Event
from invoices import billing, scheduler
from plans.models import Plan
from webhooks import relay as webhook_relay
from webhooks.models import WebhookDelivery
from webhooks.relay import WebhookRelay

from .conftest import record

START = datetime(2021, 10, 14, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def received(receiver, secret):
    """The events the receiver got, verified, in the order of their customer sequence."""
    return sorted(receiver.payloads(secret), key=lambda payload: payload["sequence"])


@pytest.mark.django_db
def test_a_whole_life_reaches_the_receiver_once_each_in_order(endpoint, receiver, customer):
    bronze = Plan.objects.create(
        name="Bronze", amount="500.00", payment_cycle=30, total_valid_months=3
    )
    gold = Plan.objects.create(name="Gold", amount="1200.00", is_cancellable=True)
    relay = WebhookRelay(timeout_seconds=2)

    def step(at, change):
        change(at)
        relay.run_once(now=at)

    step(START, lambda at: credit_top_up(user_id=customer.pk, amount=Decimal("1000"), now=at))
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    relay.run_once(now=START)
    step(START + 30 * DAY, lambda at: billing.bill_due(now=at))  # renewal, paid
    step(START + 60 * DAY, lambda at: billing.bill_due(now=at))  # short: suspended
    step(
        START + 61 * DAY,
        lambda at: credit_top_up(user_id=customer.pk, amount=Decimal("500"), now=at),
    )  # settles it: resumed
    step(
        START + 62 * DAY,
        lambda at: billing.subscription_pause(
            user_id=customer.pk, subscription_id=subscription.pk, now=at
        ),
    )
    step(
        START + 63 * DAY,
        lambda at: credit_top_up(user_id=customer.pk, amount=Decimal("1200"), now=at),
    )
    cancellable = billing.subscription_purchase(
        user_id=customer.pk, plan_id=gold.pk, now=START + 64 * DAY
    )
    relay.run_once(now=START + 64 * DAY)
    step(
        START + 65 * DAY,
        lambda at: billing.subscription_cancel(
            user_id=customer.pk, subscription_id=cancellable.pk, now=at
        ),
    )
    step(START + 90 * DAY, lambda at: billing.bill_due(now=at))  # the paused one expires
    relay.run_once(now=START + 100 * DAY)  # nothing left

    payloads = received(receiver, endpoint.secret)
    recorded = list(Event.objects.filter(customer=customer).order_by("sequence"))
    assert [p["id"] for p in payloads] == [event.public_id for event in recorded]
    assert [p["sequence"] for p in payloads] == list(range(1, len(recorded) + 1))
    assert [(p["type"], p["data"].get("id")) for p in payloads] == [
        ("credit.topped_up", payloads[0]["data"]["id"]),
        ("subscription.created", subscription.pk),
        ("invoice.created", payloads[2]["data"]["id"]),
        ("invoice.paid", payloads[2]["data"]["id"]),
        ("invoice.created", payloads[4]["data"]["id"]),
        ("invoice.paid", payloads[4]["data"]["id"]),
        ("invoice.created", payloads[6]["data"]["id"]),
        ("subscription.suspended", subscription.pk),
        ("credit.topped_up", payloads[8]["data"]["id"]),
        ("invoice.paid", payloads[6]["data"]["id"]),
        ("subscription.resumed", subscription.pk),
        ("subscription.paused", subscription.pk),
        ("credit.topped_up", payloads[12]["data"]["id"]),
        ("subscription.created", cancellable.pk),
        ("invoice.created", payloads[14]["data"]["id"]),
        ("invoice.paid", payloads[14]["data"]["id"]),
        ("subscription.cancelled", cancellable.pk),
        ("subscription.expired", subscription.pk),
    ]
    assert payloads[1]["customer"] == {"id": customer.pk, "phone": str(customer.phone)}
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


@pytest.mark.django_db(transaction=True)
def test_an_event_is_never_delivered_before_its_change_commits(
    settings, endpoint, receiver, customer
):
    settings.WEBHOOK_POLL_SECONDS = 0.05
    running = webhook_relay.start()
    try:
        with transaction.atomic():
            event = record(customer)
            running.wake()
            # The relay polls many times meanwhile: the event is not there for it yet.
            assert not wait_for(lambda: receiver.count() > 0, timeout=1)
        committed = time.monotonic()

        assert wait_for(lambda: receiver.count() == 1, timeout=10)
    finally:
        webhook_relay.stop()
    [request] = receiver.requests
    assert request.at > committed
    assert request.verified(endpoint.secret)["id"] == event.public_id


@pytest.mark.django_db(transaction=True)
def test_the_scheduler_relays_and_loses_nothing_across_a_restart(
    settings, endpoint, receiver, customer
):
    settings.WEBHOOK_POLL_SECONDS = 0.2
    settings.WEBHOOK_RETRY_SCHEDULE = [1, 1, 1]
    failures = iter([(500, b"", {})] * 2)
    receiver.respond = lambda _: next(failures, (200, b"ok", {}))  # fails, then recovers
    plan = Plan.objects.create(name="Silver", amount="750.00", is_cancellable=True)

    first = scheduler.start(reconcile_seconds=0.2, standby_seconds=0.1)
    try:
        assert first.wait_until_leading(15)
        credit_top_up(user_id=customer.pk, amount=Decimal("2000"))
        subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
        assert wait_for(
            lambda: not WebhookDelivery.objects.exclude(status="succeeded").exists()
            and WebhookDelivery.objects.count() == 4,
            timeout=15,
        )
    finally:
        scheduler.stop()

    # While no scheduler runs, changes still record their events; nobody delivers them.
    billing.subscription_pause(user_id=customer.pk, subscription_id=subscription.pk)
    credit_top_up(user_id=customer.pk, amount=Decimal("100"))
    assert Event.objects.filter(dispatched_at__isnull=True).count() == 2

    second = scheduler.start(reconcile_seconds=0.2, standby_seconds=0.1)
    try:
        assert second.wait_until_leading(15)
        billing.subscription_cancel(user_id=customer.pk, subscription_id=subscription.pk)
        total = Event.objects.filter(customer=customer).count()
        assert wait_for(
            lambda: WebhookDelivery.objects.filter(status="succeeded").count() == total,
            timeout=15,
        )
    finally:
        scheduler.stop()

    ids = Counter(r.headers["webhook-id"] for r in receiver.requests if r.body)
    recorded = set(Event.objects.filter(customer=customer).values_list("public_id", flat=True))
    assert set(ids) == recorded
    # Each event arrived once, and again after each of the two failed attempts.
    assert sum(ids.values()) == len(recorded) + 2
    types = [p["type"] for p in received(receiver, endpoint.secret)]
    assert types[-3:] == ["subscription.paused", "credit.topped_up", "subscription.cancelled"]
