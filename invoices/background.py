"""
What the scheduler's leader runs besides its jobs: the webhook and notice relays. One thing
drives them, the leader, whichever way they run:

- without a broker, their threads run in the leader's process (``webhooks.relay``,
  ``notices.relay``), as they always did;
- with a broker (``CELERY_BROKER_URL``), the leader runs a light *driver* per relay that only
  enqueues a round (``webhooks.tasks.relay_round``, ``notices.tasks.relay_round``) every poll
  interval, and at once when this process commits events; Celery workers run the rounds.

A round not started within a few polls is dropped (``expires``): the next poll enqueued a new
one, so a busy queue holds a few rounds, never a pile of them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import Task
from django.conf import settings

from core import tasks as celery_tasks
from events.relays import EventRelay, ProcessRelay
from notices import relay as notice_relay
from notices import tasks as notice_tasks
from webhooks import relay as webhook_relay
from webhooks import tasks as webhook_tasks

logger = logging.getLogger(__name__)

# Polls a queued round may wait before it is dropped (at least ROUND_EXPIRES_MIN seconds).
ROUND_EXPIRES_POLLS = 3
ROUND_EXPIRES_MIN = 10


class RoundDriver(EventRelay):
    """Enqueues a relay's rounds for the Celery workers, on ``EventRelay``'s schedule: after
    this process commits events, and every ``poll_seconds``."""

    batch_size = 1  # a wake-up enqueues one round and handles nothing itself: never "full"
    stop_timeout = 10.0

    def __init__(self, *, task: Task, name: str, poll_seconds: float) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self.task = task
        self.name = name
        self.expires = max(ROUND_EXPIRES_MIN, ROUND_EXPIRES_POLLS * poll_seconds)

    def run_once(self, now: datetime | None = None) -> int:
        self.task.apply_async(expires=self.expires)
        return 0


def _webhook_driver() -> RoundDriver:
    return RoundDriver(
        task=webhook_tasks.relay_round,
        name="webhook round driver",
        poll_seconds=settings.WEBHOOK_POLL_SECONDS,
    )


def _notice_driver() -> RoundDriver:
    return RoundDriver(
        task=notice_tasks.relay_round,
        name="notice round driver",
        poll_seconds=settings.NOTICE_POLL_SECONDS,
    )


webhook_driver = ProcessRelay(_webhook_driver)
notice_driver = ProcessRelay(_notice_driver)


def relays_start() -> None:
    """The leader starts delivering webhooks and SMS notices (or enqueuing their rounds)."""
    if celery_tasks.enabled():
        webhook_driver.start()
        notice_driver.start()
    else:
        webhook_relay.start()
        notice_relay.start()


def relays_stop() -> None:
    """The leader stops: whichever ran stops (after the pass or the enqueue in flight)."""
    webhook_driver.stop()
    notice_driver.stop()
    webhook_relay.stop()
    notice_relay.stop()
