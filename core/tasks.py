"""
Celery, when a broker is configured (``CELERY_BROKER_URL``): what the apps' tasks share.

With a broker, the scheduler's leader still decides *when* (its jobs, its sweep, the relays'
polls) but no longer does the work: it enqueues tasks that ``celery -A config worker`` processes
run, on any number of machines. Delivery is at least once (``acks_late``: a task a dying worker
held runs again elsewhere); effects are exactly once because the database says what is done
(the billing engine's row locks and its unique invoice per period; webhook deliveries and
notices are claimed with leases and recorded). Without a broker nothing here is used and the
scheduler's process does everything itself.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from django.conf import settings

logger = logging.getLogger(__name__)

# A relay round goes on with another pass while passes come back full, for at most this long:
# a backlog drains in few tasks, and no task outlives the broker's visibility timeout.
ROUND_SECONDS = 30.0


def enabled() -> bool:
    """Whether a broker is configured: the scheduler enqueues work for Celery workers."""
    return bool(settings.CELERY_BROKER_URL)


class Relay(Protocol):
    """What a round needs of a relay (``events.relays.EventRelay``)."""

    batch_size: int

    def run_once(self) -> int: ...


def relay_round(relay: Relay, *, budget_seconds: float = ROUND_SECONDS) -> int:
    """Run ``relay``'s passes while they come back full (more is due), within the budget;
    return how many items they handled. What a pass claimed and sent is recorded by the pass."""
    deadline = time.monotonic() + budget_seconds
    handled = 0
    while True:
        done = relay.run_once()
        handled += done
        if done < relay.batch_size or time.monotonic() >= deadline:
            return handled
