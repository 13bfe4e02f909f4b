"""
Webhook delivery on Celery workers (with ``CELERY_BROKER_URL``): the scheduler's leader
enqueues a round every ``WEBHOOK_POLL_SECONDS`` (``invoices.background``), and whichever worker
takes it fans new events out and sends the due deliveries, as the leader's relay thread does
without a broker. Several rounds at once are safe: fan-out takes ``SKIP LOCKED`` row locks and
each delivery is claimed with a lease, so no attempt is sent twice at once.
"""

from __future__ import annotations

import threading

from celery import shared_task

from core.tasks import relay_round as _round

from .relay import WebhookRelay

_relay: WebhookRelay | None = None
_relay_lock = threading.Lock()


def process_relay() -> WebhookRelay:
    """This worker process's relay: its sending threads and HTTP connections are kept between
    rounds (made on first use, so after a prefork worker's fork)."""
    global _relay
    with _relay_lock:
        if _relay is None:
            _relay = WebhookRelay()
        return _relay


@shared_task(name="webhooks.relay_round")
def relay_round() -> int:
    """Fan new events out and send due deliveries; returns how many attempts were made."""
    return _round(process_relay())
