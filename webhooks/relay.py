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
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.utils import timezone

from events.relays import EventRelay, ProcessRelay

from . import sending, services

logger = logging.getLogger(__name__)

# Fan-out batches per pass, at most (the next pass goes on): sending waits for no more than this.
FAN_OUT_ROUNDS = 10
# Deliveries claimed at once, per sending thread.
BATCH_PER_WORKER = 8


class WebhookRelay(EventRelay):
    name = "webhook relay"

    def __init__(
        self,
        *,
        poll_seconds: float | None = None,
        workers: int | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds or settings.WEBHOOK_POLL_SECONDS)
        self.workers = workers or settings.WEBHOOK_WORKERS
        self.timeout_seconds = timeout_seconds or settings.WEBHOOK_TIMEOUT_SECONDS
        # A claim outlives the slowest batch: every worker's sends timing out in turn.
        self.batch_size = self.workers * BATCH_PER_WORKER
        self.lease = timedelta(seconds=self.timeout_seconds * (BATCH_PER_WORKER + 1) + 30)
        self.stop_timeout = self.lease.total_seconds()
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

    # --- between passes ---------------------------------------------------------------------

    def close(self) -> None:
        """Let go of the sending threads and connections (``stop`` does it)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._http is not None:
            self._http.close()
            self._http = None


# --- The process's relay (the scheduler's leader runs it) ----------------------------------------

_process = ProcessRelay(WebhookRelay)
current = _process.current
start = _process.start
stop = _process.stop


def wake() -> None:
    """Send what is due now (a redelivery), if this process runs the relay."""
    relay = current()
    if relay is not None:
        relay.wake()
