"""
What the scheduler runs. Job rows in the database point at these functions by their import path
(``invoices.jobs:bill_subscription``); django-apscheduler deletes a job it can't load, which
would silently stop a subscription's billing: never rename or move them (a test guards it).
Jobs carry only ids: the database is the source of truth, a job is only a trigger. A customer
whose billing fails does not make a job fail: the engine records it (``BillingFailure``) and
the next sweep retries it.

With a broker (``CELERY_BROKER_URL``) the billing jobs only enqueue: Celery workers bill
(``invoices.tasks``). Should the broker refuse the task, the job bills here instead, so
billing never waits for the broker to come back.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import close_old_connections
from django_apscheduler.models import DjangoJobExecution

from core import tasks as celery_tasks
from core.idempotency import idempotency_keys_prune
from webhooks.services import webhook_attempts_prune

from . import billing, tasks

logger = logging.getLogger(__name__)

EXECUTION_HISTORY_SECONDS = 7 * 24 * 3600


def bill_subscription(subscription_id: int) -> None:
    """Bill what is due for this subscription (and its customer's others, in time order)."""
    if celery_tasks.enabled():
        try:
            tasks.bill_subscription.delay(subscription_id)
            return
        except Exception:
            logger.exception("Could not queue subscription %s; billing here", subscription_id)
    close_old_connections()
    try:
        report = billing.subscription_bill(subscription_id=subscription_id)
        logger.info("Billing job for subscription %s: %s", subscription_id, report)
    finally:
        close_old_connections()


def sweep() -> None:
    """The safety net: bill everything due, so paused and suspended subscriptions expire too."""
    close_old_connections()
    try:
        if celery_tasks.enabled():
            try:
                queued = tasks.due_enqueue()
            except Exception:
                logger.exception("Could not queue the billing sweep; billing here")
            else:
                if queued:
                    logger.info("Billing sweep: %s customer(s) queued for the workers", queued)
                return
        report = billing.bill_due()
        if report.customers:
            logger.info("Billing sweep: %s", report)
    finally:
        close_old_connections()


def catch_up(*, now: datetime) -> str:
    """
    A new leader's catch-up, before its jobs run: bill every customer with something due by
    ``now`` here, or with a broker enqueue them for the workers (here if the broker refuses).
    Each customer's clock is read under their lock either way. Returns what it did, for the log.
    """
    if celery_tasks.enabled():
        try:
            return f"{tasks.due_enqueue(now=now)} customer(s) queued for the workers"
        except Exception:
            logger.exception("Could not queue the catch-up; billing here")
    return str(billing.bill_due())


def prune_history() -> None:
    """Daily: forget old job executions, expired idempotency keys and old webhook attempts."""
    close_old_connections()
    try:
        DjangoJobExecution.objects.delete_old_job_executions(EXECUTION_HISTORY_SECONDS)
        keys = idempotency_keys_prune()
        attempts = webhook_attempts_prune()
        logger.info(
            "Pruned job executions older than 7 days, %s idempotency keys and %s webhook attempts",
            keys,
            attempts,
        )
    finally:
        close_old_connections()
