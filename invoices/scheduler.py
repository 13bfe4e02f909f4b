"""
The invoice scheduler: APScheduler with django-apscheduler's ``DjangoJobStore``, one job per
live subscription (``subscription-<id>``), firing at each period start.

- Job state follows the subscription: a job for every live subscription, paused exactly when it
  is not active, none for ended ones. The scheduler follows the event stream (``events``), not
  the billing engine (which never imports it): in its own process an ``event_listen`` callback
  applies the ``subscription.*`` events at once, after their commit; a reconcile loop reads the
  ``subscription.*`` events other processes (web workers) recorded, within
  ``SCHEDULER_RECONCILE_SECONDS``; and a full reconcile every ten minutes is the net.
- Reconciles read and write in pages of ``PAGE_SIZE`` subscription ids (their terms and job
  rows in one query, new jobs written in bulk as ``add_job`` would write them one by one):
  memory stays flat whatever the number of jobs (docs/scaling.md).
- Only the holder of the leader lock (see ``invoices.leader``) schedules; others stand by.
- On start: catch-up (``bill_due``), then the jobs due by then are brought in step, then jobs
  run (``is_leader``), while a full reconcile brings the others in step (``in_step``; a job is
  only a trigger, so one not yet in step bills nothing that is not due). A start that fails
  before its jobs are in step is retried after a pause that doubles each time, up to
  ``SCHEDULER_MAX_BACKOFF_SECONDS``, never in a hot loop. One customer's failing billing does
  not fail a start: the engine records it and goes on (``invoices.billing``); the sweep
  retries it.
- Stopping never submits a job to an executor that is shut down (see ``_Scheduler``): a run
  that is due when the scheduler stops stays due, and runs at the next start.
- ``misfire_grace_time=None``: a run missed while the scheduler was down still runs when it
  comes back (APScheduler's default of 1 s would skip it); ``coalesce=True``: many missed runs
  become one, which loses nothing since a run bills every due period in order;
  ``max_instances=1``: a subscription is never billed by two runs of its job at once.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import obj_to_ref
from django.conf import settings
from django.db import close_old_connections, connection, connections, transaction
from django.db.models import (
    BigIntegerField,
    CharField,
    F,
    Func,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Concat, Substr
from django.utils import timezone
from django_apscheduler.jobstores import DjangoJobStore
from django_apscheduler.models import DjangoJob, DjangoJobExecution
from django_apscheduler.util import get_django_internal_datetime

from core import runtime
from events.models import Event, EventType
from events.services import event_listen, event_unlisten
from subscriptions.models import Subscription

from . import background, jobs
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
BILL_FUNC_REF = obj_to_ref(jobs.bill_subscription)
# Subscriptions (and job rows) a reconcile reads and writes at a time.
PAGE_SIZE = 1000
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


def make_scheduler() -> _Scheduler:
    """An APScheduler scheduler on the database's job store (not started)."""
    return _Scheduler(
        jobstores={"default": DjangoJobStore()},
        executors={"default": ThreadPoolExecutor(settings.SCHEDULER_WORKERS)},
        job_defaults=JOB_DEFAULTS,
        timezone=UTC,
    )


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
        self.is_leader = False  # billing runs: this process's jobs fire
        self.in_step = threading.Event()  # and since its start's full reconcile, jobs are right
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
                if not self.in_step.is_set():  # a failed start: the next one waits
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
        """Wait until this scheduler leads: billing runs (its start's reconcile may still be
        bringing jobs in step; see ``wait_until_in_step``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_leader:
                return True
            time.sleep(0.05)
        return self.is_leader

    def wait_until_in_step(self, timeout: float) -> bool:
        """Wait until this scheduler leads with every job in step with its subscription."""
        return self.in_step.wait(timeout)

    def _lead(self) -> None:
        started = time.monotonic()
        self.scheduler = make_scheduler()
        self.scheduler.start(paused=True)
        now = timezone.now()
        report = jobs.catch_up(now=now)  # billed here, or queued for the Celery workers
        logger.info("Scheduler catch-up as of %s: %s", now.isoformat(), report)
        # The jobs that would run as soon as the scheduler resumes: in step first (after a
        # downtime, every job whose run was missed, which the catch-up has billed).
        self.reconcile_due(now)
        self._add_system_jobs()
        self._watermark = now
        if self._stop.is_set():  # stopped while catching up: don't start running jobs
            return
        self.is_leader = True
        self.scheduler.resume()
        logger.info(
            "Scheduler leading (billing runs %.2f s after start)", time.monotonic() - started
        )
        # The other jobs run meanwhile as they are stored: a job is only a trigger, whose run
        # bills what is due (nothing, for a job left on an ended or changed subscription).
        self.reconcile_all()
        self._last_full_reconcile = timezone.now()
        if self._stop.is_set():
            return
        self.failed_starts = 0  # before in_step: whoever sees the jobs in step sees the reset
        self.in_step.set()
        logger.info("Scheduler jobs in step (%.2f s after start)", time.monotonic() - started)
        # Then the leader delivers webhooks and SMS (or has workers do it): their first passes
        # (a backlog after a downtime) would slow the reconcile, and nothing waits on them.
        background.relays_start()
        self._reconcile_loop()

    def _stop_scheduler(self) -> None:
        self.is_leader = False
        self.in_step.clear()
        background.relays_stop()
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

    def sync(self, subscription_ids: Iterable[int]) -> ReconcileReport:
        """Bring these subscriptions' jobs in step (a job removed for those no longer live)."""
        report = ReconcileReport()
        self._sync_into(report, subscription_ids, log_each=True)
        return report

    def _sync_into(
        self, report: ReconcileReport, subscription_ids: Iterable[int], *, log_each: bool
    ) -> None:
        ids = sorted(set(subscription_ids))
        for start in range(0, len(ids), PAGE_SIZE):
            page = ids[start : start + PAGE_SIZE]
            with self.scheduler._jobstores_lock:
                rows = _page(_live_with_jobs().filter(pk__in=page).order_by())
                stale = _existing_jobs(set(page).difference(term.pk for term, _ in rows))
                self._reconcile_page(rows, stale, report, log_each=log_each)

    def reconcile_due(self, now: datetime) -> ReconcileReport:
        """
        Bring in step the subscriptions' jobs due by ``now``, read in keyset pages of their next
        run (the job store's index): none on a restart, every job whose run was missed after a
        downtime. Their next runs move on, so the scheduler neither loads them all at once nor
        fires them one by one for billing the catch-up did; one whose billing failed stays due,
        and runs once.
        """
        report = ReconcileReport()
        due = DjangoJob.objects.filter(id__startswith=JOB_PREFIX, next_run_time__lte=now)
        due = due.order_by("next_run_time", "id").values_list("next_run_time", "id")
        page = due
        while rows := list(page[:PAGE_SIZE]):
            last_run, last_id = rows[-1]
            # Rows brought in step leave the due set; the others are not read again.
            page = due.filter(
                Q(next_run_time__gt=last_run) | Q(next_run_time=last_run, id__gt=last_id)
            )
            owners = (_subscription_id(identifier) for _, identifier in rows)
            self._sync_into(report, [pk for pk in owners if pk is not None], log_each=False)
        if report.changed:
            logger.info("Due jobs reconciled: %s", report)
        return report

    def reconcile_all(self) -> ReconcileReport:
        """
        A job for every live subscription, paused exactly when not active; none for the rest.

        In pages, so memory stays flat at any size: ranges of subscription ids, each read with
        the live subscriptions' job rows in one query (no model instances, only the columns a
        job follows) and compared with them, the missing jobs created in bulk; the job rows of
        the range's other ids (ended, gone) removed in bulk. Never the whole job list at once
        (``get_jobs`` unpickles them all).
        """
        report = ReconcileReport()
        live = _live_with_jobs().order_by("pk")
        # Ranges of ids, not "the next PAGE_SIZE after": a range is read along the primary key
        # whatever the planner estimates of the status filter (a LIMIT page can be planned as a
        # scan of every live subscription, sorted, once per page).
        top = Subscription.objects.aggregate(top=Max("pk"))["top"] or 0
        ranges = ((low, min(low + PAGE_SIZE, top)) for low in range(0, top, PAGE_SIZE))
        kept = 0
        # Each page read while the one before is compared (the database's time hidden behind
        # Python's). A job's run may meanwhile move its next run time: harmless, as what we
        # write is what its subscription wants, read in the same snapshot as the job.
        pages = _read_ahead(lambda r: _page(live.filter(pk__gt=r[0], pk__lte=r[1])), ranges)
        with contextlib.closing(pages):
            for (low, high), rows in pages:
                if self._stop.is_set():  # the process is stopping: the next leader reconciles
                    return report
                # Under the job store lock: the scheduler's main loop does not write between our
                # read of the page's other job rows and our writes.
                with self.scheduler._jobstores_lock:
                    others = set(range(low + 1, high + 1)).difference(term.pk for term, _ in rows)
                    stale = _existing_jobs(others)
                    self._reconcile_page(rows, stale, report)
                kept += len(rows)
        # Any job row left over is for an id past the last subscription (one deleted since):
        # rare, so looked for only when the count says there is one.
        if DjangoJob.objects.filter(id__startswith=JOB_PREFIX).count() > kept:
            self._remove_stale(report)
        if report.changed:
            logger.info("Jobs reconciled: %s", report)
        return report

    def _reconcile_page(
        self,
        rows: list[tuple[_Term, bytes | None]],
        stale: list[str],
        report: ReconcileReport,
        *,
        log_each: bool = False,
    ) -> None:
        """Bring the jobs of these live subscriptions (each with its stored job's state, if
        any) in step, and remove the ``stale`` jobs, in a few statements."""
        protocol = self.scheduler._lookup_jobstore("default").pickle_protocol
        now = timezone.now()
        added: list[DjangoJob] = []
        changed: list[DjangoJob] = []
        for term, stored in rows:
            wanted_next = term.next_boundary_at if term.is_active else None
            state = _load_state(stored) if stored is not None else None
            if state is not None and not _job_follows(state, term):
                # A change of plan started a new term: another interval from another start,
                # another end, another plan's name.
                state = None
            if state is None:
                row = _job_row(_job_state(term, wanted_next), protocol)
                (added if stored is None else changed).append(row)
                report.added += stored is None
                report.replaced += stored is not None
                if log_each:
                    logger.info("Job %s added (next run %s)", job_id(term.pk), wanted_next)
                continue
            next_run = state["next_run_time"]
            if next_run == wanted_next:
                continue
            if None not in (wanted_next, next_run) and wanted_next <= now < next_run:
                # Its run came and went, and the subscription is still due: billing that
                # customer failed. Pulling the job back into the past would rerun it at once,
                # on every reconcile; the sweep retries it instead.
                continue
            # next_run_time None is APScheduler's "paused".
            state["next_run_time"] = wanted_next
            changed.append(_job_row(state, protocol))
            if wanted_next is None:
                report.paused += 1
            else:
                report.moved += 1
            if log_each:
                action = "paused" if wanted_next is None else "resumed"
                logger.info("Job %s %s", job_id(term.pk), action)
        if not (added or changed or stale):
            return
        with transaction.atomic():
            if stale:
                _delete_jobs(stale)
            if added:
                _insert_jobs(added)
            if changed:
                DjangoJob.objects.bulk_update(changed, ["next_run_time", "job_state"])
        report.removed += len(stale)
        if log_each:
            for identifier in stale:
                logger.info("Job %s removed", identifier)
        if self.scheduler.state == STATE_RUNNING:
            self.scheduler.wakeup()  # a job may now be due sooner than the loop's next wake-up

    def _remove_stale(self, report: ReconcileReport) -> None:
        """Remove the jobs of subscriptions no longer live (or gone), reading the job rows in
        keyset pages of their ids (in the primary key's order and nothing else, so read along
        it), and which of their subscriptions are live."""
        rows = DjangoJob.objects.order_by("id").values_list("id", flat=True)
        after = ""
        while True:
            identifiers = list(rows.filter(id__gt=after)[:PAGE_SIZE])
            if not identifiers:
                return
            after = identifiers[-1]
            owners = {job: _subscription_id(job) for job in identifiers}
            owners = {job: pk for job, pk in owners.items() if pk is not None}
            live = set(
                Subscription.objects.filter(
                    pk__in=owners.values(), status__in=Subscription.LIVE_STATUSES
                ).values_list("pk", flat=True)
            )
            stale = [job for job, pk in owners.items() if pk not in live]
            if stale:
                with self.scheduler._jobstores_lock:
                    self._reconcile_page([], stale, report)


@dataclass
class ReconcileReport:
    added: int = 0
    replaced: int = 0  # their trigger did not follow the subscription's current term
    moved: int = 0  # next run moved (resumed, or a new period start)
    paused: int = 0
    removed: int = 0

    @property
    def changed(self) -> int:
        return self.added + self.replaced + self.moved + self.paused + self.removed

    def __str__(self) -> str:
        return (
            f"{self.added} added, {self.replaced} replaced, {self.moved} moved, "
            f"{self.paused} paused, {self.removed} removed"
        )


class _Term(NamedTuple):
    """What a subscription's job follows: read with only these columns (no model instance; a
    named tuple, which costs a third of a frozen dataclass to make, 100,000 times a start)."""

    pk: int
    status: str
    next_boundary_at: datetime
    period_seconds: int
    term_start_at: datetime
    end_at: datetime
    plan_name: str

    @property
    def is_active(self) -> bool:
        return self.status in Subscription.SERVING_STATUSES

    @property
    def period_length(self) -> timedelta:
        return timedelta(seconds=self.period_seconds)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Microseconds(Func):
    """
    A timestamp column as whole microseconds since the Unix epoch (NULL stays NULL). A reconcile
    reads three timestamps a subscription: as numbers they cost a tenth of what Django's
    time-zone-aware loader costs to parse their text on PostgreSQL (a third of a start's time).
    """

    output_field = BigIntegerField()

    def get_db_converters(self, connection):
        return []  # both databases send integers (or NULL) already

    def as_postgresql(self, compiler, connection, **extra_context):
        template = "(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint"
        return self.as_sql(compiler, connection, template=template, **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC: the whole seconds, then the
        # fraction's six digits (none when it is zero).
        (column,) = self.get_source_expressions()
        seconds = Cast(Func(Value("%s"), column, function="strftime"), BigIntegerField())
        fraction = Cast(Substr(column, 21), BigIntegerField())
        return compiler.compile(seconds * 1_000_000 + fraction)


def _from_microseconds(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


# The statuses that are not live. Filtering on "not one of these" rather than "live": a page's
# query is then read along the primary key's range; "status IN (live)" matches the predicate of
# the partial unique index on live subscriptions, and PostgreSQL would read that whole index
# (every live subscription) for each page to intersect it with the range.
_ENDED_STATUSES = [
    status for status in Subscription.Status.values if status not in Subscription.LIVE_STATUSES
]


def _live_with_jobs() -> QuerySet:
    """The live subscriptions' terms (their timestamps as microseconds), each with its stored
    job's state (None if it has none): one query, the job row found by its primary key."""
    identifier = Concat(Value(JOB_PREFIX), Cast(OuterRef("pk"), CharField()))
    stored = DjangoJob.objects.filter(id=identifier).order_by().values("job_state")[:1]
    return (
        Subscription.objects.exclude(status__in=_ENDED_STATUSES)
        .annotate(
            next_boundary_us=_Microseconds(F("next_boundary_at")),
            term_start_us=_Microseconds(F("term_start_at")),
            end_us=_Microseconds(F("end_at")),
            stored_job=Subquery(stored),
        )
        .values_list(
            "pk",
            "status",
            "next_boundary_us",
            "period_seconds",
            "term_start_us",
            "end_us",
            "plan_name",
            "stored_job",
        )
    )


def _page(rows: QuerySet) -> list[tuple[_Term, bytes | None]]:
    """The page's live subscriptions with their stored jobs (a status neither live nor known
    to have ended is left out: its job, if any, is removed as for an ended one)."""
    page = []
    for pk, status, next_boundary, period_seconds, term_start, end, plan_name, stored in rows:
        if status in Subscription.LIVE_STATUSES:
            term = _Term(
                pk,
                status,
                _from_microseconds(next_boundary),
                period_seconds,
                _from_microseconds(term_start),
                _from_microseconds(end),
                plan_name,
            )
            page.append((term, stored))
    return page


K = TypeVar("K")
V = TypeVar("V")


def _read_ahead(read: Callable[[K], V], keys: Iterable[K]) -> Generator[tuple[K, V], None, None]:
    """``(key, read(key))`` for each key in order, the next one read (in a thread, with its own
    database connection) while the caller works on this one."""
    if connection.in_atomic_block:
        # Another connection would not see this transaction's writes: read here, in turn.
        yield from ((key, read(key)) for key in keys)
        return
    with futures.ThreadPoolExecutor(1, thread_name_prefix="scheduler-read-ahead") as reader:
        keys = iter(keys)
        try:
            key = next(keys, None)
            pending = reader.submit(read, key) if key is not None else None
            while pending is not None:
                value = pending.result()
                following = next(keys, None)
                pending = reader.submit(read, following) if following is not None else None
                yield key, value
                key = following
        finally:
            reader.submit(connections.close_all)  # the reader thread's connection


def _job_state(term: _Term, next_run_time: datetime | None) -> dict:
    """
    The state of the job APScheduler makes for ``term``'s subscription, exactly as
    ``scheduler.add_job(jobs.bill_subscription, IntervalTrigger(...), args=[pk], id=...,
    name=..., next_run_time=...)`` with ``JOB_DEFAULTS`` makes it and ``Job.__getstate__``
    returns it (the same keys in the same order; a test compares the stored bytes).
    """
    return {
        "version": 1,
        "id": job_id(term.pk),
        "func": BILL_FUNC_REF,
        "trigger": IntervalTrigger(
            seconds=term.period_seconds,
            start_date=term.term_start_at,
            end_date=term.end_at,
            timezone=UTC,
        ),
        "executor": "default",
        "args": (term.pk,),
        "kwargs": {},
        "name": _job_name(term),
        "misfire_grace_time": JOB_DEFAULTS["misfire_grace_time"],
        "coalesce": JOB_DEFAULTS["coalesce"],
        "max_instances": JOB_DEFAULTS["max_instances"],
        "next_run_time": next_run_time,
    }


def _job_name(term: _Term | Subscription) -> str:
    return f"Bill subscription {term.pk} ({term.plan_name})"


def _job_follows(state: dict, term: _Term) -> bool:
    """Whether a stored job's state is for ``term``: its trigger runs at the term's period
    starts until its end, and its name shows the term's plan."""
    return _trigger_follows(state["trigger"], term) and state.get("name") == _job_name(term)


def _job_row(state: dict, protocol: int) -> DjangoJob:
    """The job store's row for a job state, as ``DjangoJobStore.add_job``/``update_job``
    write it."""
    return DjangoJob(
        id=state["id"],
        next_run_time=get_django_internal_datetime(state["next_run_time"]),
        job_state=pickle.dumps(state, protocol),
    )


def _load_state(job_state: bytes) -> dict | None:
    """A stored job's state (``Job.__getstate__``), without making a ``Job``; None when it can't
    be read (it is then written afresh)."""
    try:
        # Our own job store's rows, which django-apscheduler unpickles the same way.
        state = pickle.loads(job_state)  # noqa: S301
    except Exception:
        logger.exception("A scheduler job's state could not be read; it is written afresh")
        return None
    return state if isinstance(state, dict) and "trigger" in state else None


def _insert_jobs(rows: list[DjangoJob]) -> None:
    """Insert job rows: on PostgreSQL with ``COPY`` (the rows' bytes sent as they are, not
    quoted into an INSERT statement: the most part of creating a job), elsewhere in bulk."""
    if connection.vendor != "postgresql":
        DjangoJob.objects.bulk_create(rows)
        return
    table = connection.ops.quote_name(DjangoJob._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} (id, next_run_time, job_state) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row((row.id, row.next_run_time, row.job_state))


def _existing_jobs(subscription_ids: Iterable[int]) -> list[str]:
    """Which of these subscriptions have a job row."""
    identifiers = [job_id(pk) for pk in sorted(subscription_ids)]
    if not identifiers:
        return []
    rows = DjangoJob.objects.filter(id__in=identifiers).order_by()
    return list(rows.values_list("id", flat=True))


def _subscription_id(identifier: str) -> int | None:
    """The subscription a job is for (None for other jobs)."""
    number = identifier.removeprefix(JOB_PREFIX)
    return int(number) if number != identifier and number.isascii() and number.isdigit() else None


def _delete_jobs(identifiers: list[str]) -> None:
    """Delete job rows and their executions (django-apscheduler's cascade) in two statements."""
    DjangoJobExecution.objects.filter(job_id__in=identifiers).delete()
    DjangoJob.objects.filter(id__in=identifiers).delete()


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
