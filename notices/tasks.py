"""
SMS notices on Celery workers (with ``CELERY_BROKER_URL``): the scheduler's leader enqueues a
round every ``NOTICE_POLL_SECONDS`` (``invoices.background``), and whichever worker takes it
makes the notices of new events (and the clock's reminders) and sends the due ones, as the
leader's relay thread does without a broker. Several rounds at once are safe: the database's
unique constraints keep each notice single and a lease keeps each send single.
"""

from __future__ import annotations

import threading

from celery import shared_task

from core.tasks import relay_round as _round

from .relay import NoticeRelay

_relay: NoticeRelay | None = None
_relay_lock = threading.Lock()


def process_relay() -> NoticeRelay:
    """This worker process's relay (it remembers when it last looked for reminders)."""
    global _relay
    with _relay_lock:
        if _relay is None:
            _relay = NoticeRelay()
        return _relay


@shared_task(name="notices.relay_round")
def relay_round() -> int:
    """Make the notices of new events and send the due ones; returns how many sends were tried."""
    return _round(process_relay())
