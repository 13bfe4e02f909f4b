"""
The invoice scheduler: APScheduler with django-apscheduler's ``DjangoJobStore``, one job per
live subscription (``subscription-<id>``), firing at each period start.

- Job state follows the subscription: a job for every live subscription, paused exactly when it
  is not active, none for ended ones. The scheduler follows the event stream (``events``), not
  the billing engine (which never imports it): in its own process an ``event_listen`` callback
  applies the ``subscription.*`` events at once, after their commit; a reconcile loop reads the
  ``subscription.*`` events other processes (web workers) recorded, within
  ``SCHEDULER_RECONCILE_SECONDS``; and a full reconcile every ten minutes is the net.
- Only the holder of the leader lock (see ``invoices.leader``) schedules; others stand by.
- On start: catch-up (``bill_due``), then a full reconcile, then jobs run. A start that fails
  is retried after a pause that doubles each time, up to ``SCHEDULER_MAX_BACKOFF_SECONDS``,
  never in a hot loop. One customer's failing billing does not fail a start: the engine
  records it and goes on (``invoices.billing``); the sweep retries it.
- Stopping never submits a job to an executor that is shut down (see ``_Scheduler``): a run
  that is due when the scheduler stops stays due, and runs at the next start.
- ``misfire_grace_time=None``: a run missed while the scheduler was down still runs when it
  comes back (APScheduler's default of 1 s would skip it); ``coalesce=True``: many missed runs
  become one, which loses nothing since a run bills every due period in order;
  ``max_instances=1``: a subscription is never billed by two runs of its job at once.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_apscheduler.jobstores import DjangoJobStore

from core import runtime
from events.models import Event, EventType
from events.services import event_listen, event_unlisten
from notices import relay as notice_relay
from subscriptions.models import Subscription
from webhooks import relay as webhook_relay

from . import billing, jobs
from .leader import LeaderLock, leader_lock

logger = logging.getLogger(__name__)

JOB_PREFIX = "subscription-"
SWEEP_JOB_ID = "system-sweep"
PRUNE_JOB_ID = "system-prune"
# How far back the reconcile loop looks past its last pass, for transactions that committed
# late (an event's created_at is from before its commit; ids are not committed in order either).
RECONCILE_OVERLAP = timedelta(seconds=30)
SUBSCRIPTION_EVENTS = [value for value in EventType.values if value.startswith("subscription.")]
FULL_RECONCILE_EVERY = timedelta(minutes=10)

JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}
# The first pause after a failed start; it doubles up to SCHEDULER_MAX_BACKOFF_SECONDS.
FIRST_BACKOFF_SECONDS = 1.0


class _Scheduler(BackgroundScheduler):
    """
    APScheduler's background scheduler, minus a race on shutdown. ``shutdown()`` marks the
    scheduler stopped, then shuts the executors down while holding the job stores' lock; its
    main loop may meanwhile have woken up (a job due, a job finishing) and wait for that lock:
    it then took due jobs and submitted them to the shut-down executor, which raised and
    logged ``RuntimeError: cannot schedule new futures after shutdown`` (and the job's run was
    lost: its next run time had moved on). Checking the state under the same lock closes it.
    """

    def _process_jobs(self):
        with self._jobstores_lock:
            if self.state == STATE_STOPPED:
                return None
            return super()._process_jobs()


def job_id(subscription_id: int) -> str:
    return f"{JOB_PREFIX}{subscription_id}"


class BillingScheduler:
    """One process's scheduler: stands by until it holds the leader lock, then schedules."""

    def __init__(
        self,
        *,
        lock: LeaderLock | None = None,
        reconcile_seconds: float | None = None,
        standby_seconds: float | None = None,
        max_backoff_seconds: float | None = None,
    ) -> None:
        self.lock = lock or leader_lock()
        self.reconcile_seconds = reconcile_seconds or settings.SCHEDULER_RECONCILE_SECONDS
        self.standby_seconds = standby_seconds or settings.SCHEDULER_STANDBY_SECONDS
        self.max_backoff_seconds = max_backoff_seconds or settings.SCHEDULER_MAX_BACKOFF_SECONDS
        self.failed_starts = 0
        self.scheduler: BackgroundScheduler | None = None
        self.is_leader = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._changed: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._watermark = timezone.now()
        self._last_full_reconcile = timezone.now()

    # --- lifecycle ----------------------------------------------------------------------------

    def start_in_background(self) -> None:
        """Stand by and lead from a daemon thread (the web process's autostart)."""
        self._thread = threading.Thread(target=self.run, name="billing-scheduler", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Stand by until leader, lead until stopped or the lock is lost; then stand by again."""
        event_listen(self.events_committed)
        try:
            self._run()
        finally:
            event_unlisten(self.events_committed)

    def _run(self) -> None:
        announced = False
        while not self._stop.is_set():
            close_old_connections()
            try:
                acquired = self.lock.acquire()
            except Exception:
                logger.exception("Could not try the scheduler lock")
                acquired = False
            if not acquired:
                if not announced:
                    logger.info("Another scheduler is billing; standing by")
                    announced = True
                self._stop.wait(self.standby_seconds)
                continue
            announced = False
            try:
                self._lead()
            except Exception:
                if not self.is_leader:  # a failed start: the next one waits
                    self.failed_starts += 1
                logger.exception("The scheduler failed; standing by again")
            finally:
                self._stop_scheduler()
                self.lock.release()
            if self.failed_starts:
                delay = self.backoff_seconds()
                logger.error(
                    "Scheduler start failed %s time(s) in a row; next try in %.3g s",
                    self.failed_starts,
                    delay,
                )
                self._stop.wait(delay)
        close_old_connections()

    def backoff_seconds(self) -> float:
        """The pause after ``failed_starts`` failed starts in a row: doubling, capped."""
        exponent = min(self.failed_starts - 1, 32)
        return min(self.max_backoff_seconds, FIRST_BACKOFF_SECONDS * 2**exponent)

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        self._wake.set()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def wait_until_leading(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_leader:
                return True
            time.sleep(0.05)
        return self.is_leader

    def _lead(self) -> None:
        started = time.monotonic()
        self.scheduler = _Scheduler(
            jobstores={"default": DjangoJobStore()},
            executors={"default": ThreadPoolExecutor(settings.SCHEDULER_WORKERS)},
            job_defaults=JOB_DEFAULTS,
            timezone=UTC,
        )
        self.scheduler.start(paused=True)
        now = timezone.now()
        report = billing.bill_due()  # each customer's clock read under their lock
        logger.info("Scheduler catch-up as of %s: %s", now.isoformat(), report)
        self.reconcile_all()
        self._add_system_jobs()
        self._watermark = now
        if self._stop.is_set():  # stopped while catching up: don't start running jobs
            return
        self.failed_starts = 0  # before is_leader: whoever sees it leading sees the reset
        self.is_leader = True
        webhook_relay.start()  # the leader delivers webhooks
        notice_relay.start()  # and SMS notices
        self.scheduler.resume()
        logger.info("Scheduler leading (ready in %.2f s)", time.monotonic() - started)
        self._reconcile_loop()

    def _stop_scheduler(self) -> None:
        self.is_leader = False
        webhook_relay.stop()
        notice_relay.stop()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
            # Its threads are gone; their database connections sit in reference cycles until
            # collected. Collect now, so none outlives the scheduler.
            gc.collect()
        self.scheduler = None

    def _add_system_jobs(self) -> None:
        sweep_seconds = min(3600, settings.BILLING_DAY_SECONDS)
        self.scheduler.add_job(
            jobs.sweep,
            IntervalTrigger(seconds=sweep_seconds, timezone=UTC),
            id=SWEEP_JOB_ID,
            name="Bill everything due (expires paused and suspended subscriptions)",
            replace_existing=True,
        )
        self.scheduler.add_job(
            jobs.prune_history,
            CronTrigger(hour=3, minute=30, timezone=UTC),
            id=PRUNE_JOB_ID,
            name="Delete old job executions, expired idempotency keys and old webhook attempts",
            replace_existing=True,
        )

    # --- keeping jobs in step with subscriptions ------------------------------------------------

    def notify(self, subscription_id: int) -> None:
        """A subscription changed in this process: bring its job in step now."""
        self._changed.put(subscription_id)
        self._wake.set()

    def events_committed(self, events: list[Event]) -> None:
        """``event_listen`` callback: this process's subscription changes, just committed."""
        if not self.is_leader:
            return  # the start's full reconcile reads the database
        for subscription_id in _subscription_ids(events):
            self.notify(subscription_id)

    def _reconcile_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.reconcile_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            if not self.lock.still_held():
                logger.error("Lost the scheduler lock; stopping to schedule")
                return
            try:
                self.reconcile_recent()
            except Exception:
                logger.exception("Reconciling scheduler jobs failed")
            finally:
                close_old_connections()

    def reconcile_recent(self) -> int:
        """Sync the jobs of subscriptions announced here or changed anywhere since the last pass."""
        now = timezone.now()
        ids = set()
        while True:
            try:
                ids.add(self._changed.get_nowait())
            except queue.Empty:
                break
        if now - self._last_full_reconcile >= FULL_RECONCILE_EVERY:
            self._last_full_reconcile = now
            self.reconcile_all()
        else:
            since = self._watermark - RECONCILE_OVERLAP
            recent = Event.objects.filter(type__in=SUBSCRIPTION_EVENTS, created_at__gte=since)
            ids.update(recent.values_list("data__id", flat=True))
            self.sync(ids)
        self._watermark = now
        return len(ids)

    def sync(self, subscription_ids: Iterable[int]) -> None:
        ids = sorted(set(subscription_ids))
        found = {s.pk: s for s in Subscription.objects.filter(pk__in=ids)}
        for subscription_id in ids:
            self._sync_one(subscription_id, found.get(subscription_id))

    def reconcile_all(self) -> None:
        """A job for every live subscription, paused exactly when not active; none for the rest."""
        live = {s.pk: s for s in Subscription.objects.filter(status__in=Subscription.LIVE_STATUSES)}
        existing = {
            job.id: job for job in self.scheduler.get_jobs() if job.id.startswith(JOB_PREFIX)
        }
        for job in existing.values():
            subscription_id = int(job.id.removeprefix(JOB_PREFIX))
            if subscription_id not in live:
                self._remove(job.id)
        for subscription in live.values():
            self._sync_one(subscription.pk, subscription, existing.get(job_id(subscription.pk)))

    def _sync_one(self, subscription_id: int, subscription: Subscription | None, job=None) -> None:
        identifier = job_id(subscription_id)
        if subscription is None or not subscription.is_live:
            self._remove(identifier)
            return
        wanted_next = subscription.next_boundary_at if subscription.is_active else None
        job = job or self.scheduler.get_job(identifier)
        if job is not None and not _trigger_follows(job.trigger, subscription):
            # A change of plan started a new term: another interval from another start.
            self._remove(identifier)
            job = None
        if (
            job is not None
            and wanted_next is not None
            and job.next_run_time is not None
            and wanted_next <= timezone.now() < job.next_run_time
        ):
            # Its run came and went, and the subscription is still due: billing that customer
            # failed. Pulling the job back into the past would rerun it at once, on every
            # reconcile; the sweep retries it instead.
            return
        if job is None:
            self.scheduler.add_job(
                jobs.bill_subscription,
                IntervalTrigger(
                    seconds=subscription.period_seconds,
                    start_date=subscription.term_start_at,
                    end_date=subscription.end_at,
                    timezone=UTC,
                ),
                args=[subscription.pk],
                id=identifier,
                name=f"Bill subscription {subscription.pk} ({subscription.plan_name})",
                next_run_time=wanted_next,
                replace_existing=True,
            )
            logger.info("Job %s added (next run %s)", identifier, wanted_next)
        elif job.next_run_time != wanted_next:
            # next_run_time None is APScheduler's "paused".
            self.scheduler.modify_job(identifier, next_run_time=wanted_next)
            logger.info("Job %s %s", identifier, "paused" if wanted_next is None else "resumed")

    def _remove(self, identifier: str) -> None:
        try:
            self.scheduler.remove_job(identifier)
        except JobLookupError:
            return
        logger.info("Job %s removed", identifier)


# --- The process's scheduler ------------------------------------------------------------------

_lock = threading.Lock()
_current: BillingScheduler | None = None


def current() -> BillingScheduler | None:
    return _current


def _trigger_follows(trigger, subscription: Subscription) -> bool:
    """Whether a job's trigger runs at the subscription's current term's period starts."""
    return (
        isinstance(trigger, IntervalTrigger)
        and trigger.interval == subscription.period_length
        and trigger.start_date == subscription.term_start_at
        and trigger.end_date == subscription.end_at
    )


def _subscription_ids(events: Iterable[Event]) -> list[int]:
    """The subscriptions that ``subscription.*`` events are about (their data is the
    subscription as the API shows it)."""
    return sorted({event.data["id"] for event in events if event.type in SUBSCRIPTION_EVENTS})


def start(**options) -> BillingScheduler:
    """Start this process's scheduler once (later calls return the same one)."""
    global _current
    with _lock:
        if _current is None:
            logger.info("Starting the invoice scheduler in this process")
            _current = BillingScheduler(**options)
            _current.start_in_background()
        return _current


def run_foreground(**options) -> None:
    """``manage.py runscheduler``: stand by or lead in this thread until stopped (SIGTERM/^C)."""
    global _current
    with _lock:
        if _current is not None:
            raise RuntimeError("A scheduler already runs in this process.")
        _current = BillingScheduler(**options)
    scheduler = _current
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {
            sig: signal.signal(sig, lambda *_: scheduler.stop(wait=False))
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
    try:
        scheduler.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with _lock:
            _current = None


def stop() -> None:
    global _current
    with _lock:
        if _current is not None:
            _current.stop()
            _current = None


def should_autostart(argv: Sequence[str], environ: dict[str, str] | os._Environ) -> bool:
    """Start inside a web process: the runserver child that serves (not the autoreloader's
    parent) or a WSGI/ASGI server; never in tests, migrate or other commands."""
    if not settings.SCHEDULER_AUTOSTART:
        return False
    if runtime.server_process:
        return True
    command = argv[1] if len(argv) > 1 else ""
    if command != "runserver":
        return False
    return "--noreload" in argv or environ.get("RUN_MAIN") == "true"


def autostart() -> None:
    if should_autostart(sys.argv, os.environ):
        start()  # the app's ready() and the WSGI module both ask: it starts (and logs) once


def running_scheduler_exists() -> bool:
    """For the health check: does any process hold the scheduler's lock?"""
    from .leader import leader_lock_held_anywhere

    scheduler = _current
    if scheduler is not None and scheduler.is_leader:
        return True
    return leader_lock_held_anywhere()
