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
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from accounts import sms
from events.models import Event
from events.services import event_listen, event_unlisten

from . import services

logger = logging.getLogger(__name__)

# Event batches read per pass, at most (the next pass goes on).
ROUNDS = 10
BATCH = 20
# A claim outlives a slow SMS provider's request.
LEASE = timedelta(minutes=2)
REMINDER_SECONDS = 300


class NoticeRelay:
    def __init__(self, *, poll_seconds: float | None = None) -> None:
        self.poll_seconds = poll_seconds or settings.NOTICE_POLL_SECONDS
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
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

    # --- in the background -------------------------------------------------------------------

    def start_in_background(self) -> None:
        self._stop.clear()
        event_listen(self._on_events)
        self._thread = threading.Thread(target=self._loop, name="notice-relay", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop after the send in flight (its outcome is recorded)."""
        event_unlisten(self._on_events)
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=LEASE.total_seconds())
        self._thread = None

    def _on_events(self, events: list[Event]) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                sent = self.run_once()
            except Exception:
                logger.exception("The notice relay failed; trying again in %s s", self.poll_seconds)
                sent = 0
            finally:
                close_old_connections()
            if sent >= BATCH:
                continue  # a full batch: more may be due now
            self._wake.wait(self.poll_seconds)
        close_old_connections()


# --- The process's relay (the scheduler's leader runs it) ----------------------------------------

_lock = threading.Lock()
_current: NoticeRelay | None = None


def current() -> NoticeRelay | None:
    return _current


def start(**options) -> NoticeRelay:
    """Start this process's relay once (later calls return the same one)."""
    global _current
    with _lock:
        if _current is None:
            _current = NoticeRelay(**options)
            _current.start_in_background()
            logger.info("Notice relay started")
        return _current


def stop() -> None:
    global _current
    with _lock:
        relay, _current = _current, None
    if relay is not None:
        relay.stop()
        logger.info("Notice relay stopped")
