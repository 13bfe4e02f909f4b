"""
Billing on Celery workers (with ``CELERY_BROKER_URL``). The scheduler's jobs enqueue these
instead of billing in the scheduler's threads (``invoices.jobs``); any number of
``celery -A config worker`` processes, on any number of machines, run them.

Tasks carry only ids: the database is the source of truth and a task, like a job, only
triggers. A task runs at least once (``acks_late``; a dying worker's task is delivered again);
running it twice bills nothing twice, because the engine locks the customer, re-reads what is
due under the lock, and the database holds one invoice per period. A customer whose billing
fails is recorded by the engine (``BillingFailure``) and retried by the next sweep, never by
the task: a task fails only when the engine could not even record that.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.conf import settings

from . import billing

logger = logging.getLogger(__name__)

# Seconds a sweep's batch may wait in the queue, at least (see due_enqueue).
SWEEP_EXPIRES_MIN = 60
# Customer ids read at a time to enqueue (one query each), then cut into batches.
LIST_PAGE = 5000


@shared_task(name="invoices.bill_subscription")
def bill_subscription(subscription_id: int) -> None:
    """A subscription's job fired: bill what is due for it (and its customer's others)."""
    report = billing.subscription_bill(subscription_id=subscription_id)
    logger.info("Billing task for subscription %s: %s", subscription_id, report)


@shared_task(name="invoices.bill_customers")
def bill_customers(user_ids: list[int]) -> None:
    """A batch of the sweep: bill these customers as ``bill_due`` bills each of its pages."""
    report = customers_bill(user_ids=user_ids)
    logger.info("Billing task for %s customer(s): %s", len(user_ids), report)


def customers_bill(*, user_ids: list[int]) -> billing.BillingReport:
    """Bill these customers as ``bill_due`` bills one of its pages (the engine's own code)."""
    return billing.customers_bill(user_ids=user_ids)


def due_enqueue(*, now: datetime | None = None, batch: int | None = None) -> int:
    """
    The sweep (and a new leader's catch-up) with workers: enqueue the billing of every customer
    with something due by ``now``, ``batch`` customers a task; returns how many customers.

    A batch still queued a sweep interval later (at least a minute) is dropped: that sweep
    enqueued whoever is still due again, so a backlog does not pile up duplicates.
    """
    batch = batch or settings.BILLING_TASK_BATCH
    sweep_seconds = min(3600, settings.BILLING_DAY_SECONDS)  # as the scheduler's sweep job
    expires = max(SWEEP_EXPIRES_MIN, sweep_seconds)
    queued = 0
    # The engine's own keyset pages of whom bill_due visits, so the two can't differ and memory
    # stays flat.
    for page in billing.customer_pages_due(now=now, size=max(batch, LIST_PAGE)):
        for start in range(0, len(page), batch):
            bill_customers.apply_async(args=[page[start : start + batch]], expires=expires)
        queued += len(page)
    return queued
