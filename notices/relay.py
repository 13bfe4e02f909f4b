"""
The notice relay: makes notices from committed events (and reminders from the clock), then
sends the due ones by SMS.

It runs in the scheduler's leader (``invoices.scheduler`` starts and stops it) in a thread of
its own, next to the webhook relay: woken right after this process commits events
(``event_listen``), and every ``NOTICE_POLL_SECONDS`` for other processes' events and the clock.
Several relays may run at once (a leader change, a test): the database's unique constraints
keep each notice single, and a claim (a lease) keeps each send single.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from accounts import sms
from events.relays import EventRelay, ProcessRelay

from . import services

logger = logging.getLogger(__name__)

# Event batches read per pass, at most (the next pass goes on).
ROUNDS = 10
BATCH = 20
# A claim outlives a slow SMS provider's request.
LEASE = timedelta(minutes=2)
REMINDER_SECONDS = 300


class NoticeRelay(EventRelay):
    name = "notice relay"
    batch_size = BATCH
    stop_timeout = LEASE.total_seconds()

    def __init__(self, *, poll_seconds: float | None = None) -> None:
        super().__init__(poll_seconds=poll_seconds or settings.NOTICE_POLL_SECONDS)
        # Reminders are looked for at most this often: late by at most a quarter billing day.
        self.reminder_seconds = min(REMINDER_SECONDS, settings.BILLING_DAY_SECONDS / 4)
        self._next_reminders = 0.0

    def run_once(self, now: datetime | None = None) -> int:
        """Make the notices of new events, then send one batch of due ones; returns how many
        sends were attempted."""
        for _ in range(ROUNDS):
            if not services.notices_from_events(now=now):
                break
        if now is not None or time.monotonic() >= self._next_reminders:
            # The clock's notices (a forecast per customer near a period start) and forgetting old
            # marks: not every pass.
            self._next_reminders = time.monotonic() + self.reminder_seconds
            services.reminders_make(now=now)
            services.events_seen_prune(now=now)
        claimed = services.notices_claim(now=now or timezone.now(), limit=BATCH, lease=LEASE)
        if not claimed:
            return 0
        backend = sms.get_backend()
        for notice in claimed:
            try:
                backend.send(notice.phone, notice.text)
                outcome = services.Outcome(notice)
            except Exception as error:
                logger.warning("Sending notice %s failed: %s", notice.pk, error)
                outcome = services.Outcome(notice, error=f"{type(error).__name__}: {error}")
            services.notice_record(outcome=outcome, now=now or timezone.now())
        return len(claimed)


# --- The process's relay (the scheduler's leader runs it) ----------------------------------------

_process = ProcessRelay(NoticeRelay)
current = _process.current
start = _process.start
stop = _process.stop
