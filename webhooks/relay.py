"""
The webhook relay: fans committed events out into deliveries and sends the due ones.

It runs in the scheduler's leader (``invoices.scheduler`` starts and stops it), in a thread of
its own: woken right after this process commits events (``event_listen``), and every
``WEBHOOK_POLL_SECONDS`` for events other processes committed. Several relays may run at once
(a leader change, a test): events are fanned out under ``SKIP LOCKED`` row locks and each
delivery is claimed with a lease, so no attempt is sent twice at once. HTTP requests are made
outside any transaction, a batch at a time across ``WEBHOOK_WORKERS`` threads, each bounded by
``WEBHOOK_TIMEOUT_SECONDS``: a slow receiver holds one thread for at most that long, and its
failures wait their turn in the retry schedule, so nothing loops hot while a receiver is down.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from events.models import Event
from events.services import event_listen, event_unlisten

from . import sending, services

logger = logging.getLogger(__name__)

# Fan-out batches per pass, at most (the next pass goes on): sending waits for no more than this.
FAN_OUT_ROUNDS = 10
# Deliveries claimed at once, per sending thread.
BATCH_PER_WORKER = 8


class WebhookRelay:
    def __init__(
        self,
        *,
        poll_seconds: float | None = None,
        workers: int | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        self.poll_seconds = poll_seconds or settings.WEBHOOK_POLL_SECONDS
        self.workers = workers or settings.WEBHOOK_WORKERS
        self.timeout_seconds = timeout_seconds or settings.WEBHOOK_TIMEOUT_SECONDS
        # A claim outlives the slowest batch: every worker's sends timing out in turn.
        self.batch_size = self.workers * BATCH_PER_WORKER
        self.lease = timedelta(seconds=self.timeout_seconds * (BATCH_PER_WORKER + 1) + 30)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self._pool: ThreadPoolExecutor | None = None

    # --- one pass ---------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> int:
        """Fan out every undispatched event, then send one batch of due deliveries; returns how
        many were sent (attempts made)."""
        for _ in range(FAN_OUT_ROUNDS):
            if not services.deliveries_fan_out(now=now):
                break
        claimed = services.deliveries_claim(
            now=now or timezone.now(), limit=self.batch_size, lease=self.lease
        )
        if not claimed:
            return 0
        if self._pool is None:  # kept: its threads and connections are reused
            self._http = sending.client()
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="webhook-send")
        sent = []
        futures = {self._pool.submit(self._send, self._http, one): one for one in claimed}
        for future in as_completed(futures):
            at = now or timezone.now()
            sent.append(services.Sent(futures[future], future.result(), at))
        # One transaction for the batch; if it fails, the leases run out and all are sent again.
        services.deliveries_record(sent=sent)
        return len(claimed)

    def _send(self, http: httpx.Client, claimed: services.Claimed) -> sending.Outcome:
        try:
            return sending.send(
                http,
                url=claimed.url,
                message_id=claimed.message_id,
                secret=claimed.secret,
                body=claimed.body,
                timeout=self.timeout_seconds,
            )
        except Exception as error:  # a bug, not the receiver: kept as the attempt's error
            logger.exception("Sending webhook delivery %s failed", claimed.delivery_id)
            return sending.Outcome(None, 0, error=f"{type(error).__name__}: {error}"[:500])

    # --- in the background -------------------------------------------------------------------

    def start_in_background(self) -> None:
        self._stop.clear()
        event_listen(self._on_events)
        self._thread = threading.Thread(target=self._loop, name="webhook-relay", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop after the batch in flight (its outcomes are recorded)."""
        event_unlisten(self._on_events)
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.lease.total_seconds())
        self._thread = None
        self.close()

    def close(self) -> None:
        """Let go of the sending threads and connections (``stop`` does it)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._http is not None:
            self._http.close()
            self._http = None

    def _on_events(self, events: list[Event]) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                sent = self.run_once()
            except Exception:
                logger.exception(
                    "The webhook relay failed; trying again in %s s", self.poll_seconds
                )
                sent = 0
            finally:
                close_old_connections()
            if sent >= self.batch_size:
                continue  # a full batch: more may be due now
            self._wake.wait(self.poll_seconds)
        close_old_connections()


# --- The process's relay (the scheduler's leader runs it) ----------------------------------------

_lock = threading.Lock()
_current: WebhookRelay | None = None


def current() -> WebhookRelay | None:
    return _current


def start(**options) -> WebhookRelay:
    """Start this process's relay once (later calls return the same one)."""
    global _current
    with _lock:
        if _current is None:
            _current = WebhookRelay(**options)
            _current.start_in_background()
            logger.info("Webhook relay started")
        return _current


def stop() -> None:
    global _current
    with _lock:
        relay, _current = _current, None
    if relay is not None:
        relay.stop()
        logger.info("Webhook relay stopped")


def wake() -> None:
    """Send what is due now (a redelivery), if this process runs the relay."""
    relay = _current
    if relay is not None:
        relay.wake()
