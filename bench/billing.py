"""
Billing throughput on PostgreSQL: the scheduler's job billing one customer per transaction over
5,000 due subscriptions, and ``bill_due`` over 10,000 and 100,000 subscriptions that are all
due, in invoices per second and queries per invoice; then the scheduler with a job per
subscription in its job store: how long the first reconcile takes, and how long a scheduler
takes to start (catch-up, reconcile) and how much memory it holds with 100,000 jobs.

    .venv/bin/python -m bench.billing [--sizes 10000 100000] [--workers 2] [--no-scheduler]
        [--one-at-a-time 5000]
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from bench.common import machine, migrate, recreate_database, setup_django


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class QueryCounter:
    def __init__(self) -> None:
        import threading

        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self.lock:
            self.count += 1
        return execute(sql, params, many, context)


def seed(size: int):
    """``size`` customers, each with credit and one subscription whose period 1 is due now."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import CreditTransaction, User
    from plans.models import Plan
    from subscriptions.models import Subscription

    now = timezone.now()
    plan = Plan.objects.create(name="Bench", amount=Decimal("1.00"))
    period = timedelta(days=30)
    start = now - period - timedelta(minutes=1)
    password = make_password("bench-password-1")
    for offset in range(0, size, 5000):
        batch = range(offset, min(size, offset + 5000))
        users = User.objects.bulk_create(
            User(phone=f"+88017{n:08d}", name=f"Bench {n}", password=password, credit=100)
            for n in batch
        )
        CreditTransaction.objects.bulk_create(
            CreditTransaction(
                user=user, amount=100, kind="top_up", balance_after=100, created_at=start
            )
            for user in users
        )
        Subscription.objects.bulk_create(
            Subscription(
                user=user,
                plan=plan,
                plan_name=plan.name,
                plan_amount=plan.amount,
                plan_payment_cycle=30,
                plan_months_validity=12,
                plan_cancellable=False,
                period_seconds=int(period.total_seconds()),
                start_at=start,
                term_start_at=start,
                end_at=start + 12 * period,
                next_boundary_at=start + period,
                created_at=start,
            )
            for user in users
        )
    return now


def _process_cpu_seconds(pid: int) -> float:
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # PostgreSQL on another machine
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds() -> float:
    """CPU time used so far by this connection's PostgreSQL backend (on this machine)."""
    from django.db import connection

    connection.ensure_connection()
    return _process_cpu_seconds(connection.connection.info.backend_pid)


class BackendCpu:
    """
    The CPU time of every PostgreSQL backend the process's connections use while it is open
    (``bill_due`` bills in threads, each with a connection of its own): each backend's time
    is read from /proc when its connection closes, and the open ones' at the end.
    """

    def __init__(self) -> None:
        from django.db.backends.postgresql.base import DatabaseWrapper

        self.wrapper = DatabaseWrapper
        self.seconds: dict[int, float] = {}

    def _read(self, wrapper) -> None:
        if wrapper.connection is not None and not wrapper.connection.closed:
            pid = wrapper.connection.info.backend_pid
            self.seconds[pid] = _process_cpu_seconds(pid)

    def __enter__(self) -> BackendCpu:
        from django.db import connection

        real_close = self.real_close = self.wrapper.close
        cpu = self

        def close(wrapper) -> None:
            cpu._read(wrapper)
            real_close(wrapper)

        self.wrapper.close = close
        self.before = backend_cpu_seconds()
        self.main = connection.connection.info.backend_pid
        return self

    def __exit__(self, *exc) -> None:
        from django.db import connection

        self.wrapper.close = self.real_close
        self._read(connection)

    @property
    def total(self) -> float:
        return sum(self.seconds.values()) - self.before


@contextmanager
def copies_counted(counter: QueryCounter):
    """Count each ``COPY`` (psycopg's ``Cursor.copy``) as a statement: Django's execute
    wrappers do not see them."""
    import psycopg

    real_copy = psycopg.Cursor.copy

    def copy(cursor, *args, **kwargs):
        with counter.lock:
            counter.count += 1
        return real_copy(cursor, *args, **kwargs)

    psycopg.Cursor.copy = copy
    try:
        yield
    finally:
        psycopg.Cursor.copy = real_copy


@contextmanager
def connection_created_wrapper(wrapper):
    """Install ``wrapper`` on every connection opened meanwhile (the billing threads')."""
    from django.db.backends.signals import connection_created

    def install(sender, connection, **kwargs) -> None:
        connection.execute_wrappers.append(wrapper)

    connection_created.connect(install, weak=False)
    try:
        yield
    finally:
        connection_created.disconnect(install)


def bench_bill_due(size: int) -> None:
    """The batch run (pages of invoices.billing.BATCH_SIZE customers): invoices per second,
    statements per invoice, and the CPU each invoice costs in Python and in PostgreSQL's backend
    (what the rate would be on an idle machine, whatever else runs on this one)."""
    from django.conf import settings
    from django.db import connection, connections

    from invoices.billing import BATCH_SIZE, bill_due

    connections.close_all()
    recreate_database()
    migrate()
    now = seed(size)
    counter = QueryCounter()
    rss_before = rss_mib()
    with BackendCpu() as backends:
        cpu_before = time.process_time()
        started = time.perf_counter()
        # Threads' connections too (execute_wrapper is the calling thread's only).
        with (
            connection_created_wrapper(counter),
            connection.execute_wrapper(counter),
            copies_counted(counter),
        ):
            report = bill_due(now=now)
        elapsed = time.perf_counter() - started
        python_ms = (time.process_time() - cpu_before) * 1000
    backend_ms = backends.total * 1000
    invoices = report.invoices_paid + report.invoices_unpaid
    print(
        f"bill_due, {size:>7,} due subscriptions: {invoices:,} invoices in {elapsed:6.1f} s = "
        f"{invoices / elapsed:7.0f} invoices/s, {counter.count / invoices:.3f} queries/invoice "
        f"({counter.count:,} in pages of {BATCH_SIZE}, "
        f"{settings.BILLING_WORKERS} workers); CPU per invoice: Python "
        f"{python_ms / invoices:.3f} ms + PostgreSQL {backend_ms / invoices:.3f} ms "
        f"(= {invoices / ((python_ms + backend_ms) / 1000):,.0f} invoices per CPU-second); "
        f"memory +{rss_mib() - rss_before:.0f} MiB"
    )


def bench_one_at_a_time(size: int) -> None:
    """The scheduler's own job, with no broker: one customer per transaction
    (``subscription_bill``, what each subscription's job runs at its period start), over
    ``size`` due subscriptions in one process: invoices per second, statements and CPU each."""
    from django.db import connection, connections

    from invoices.billing import subscription_bill
    from subscriptions.models import Subscription

    connections.close_all()
    recreate_database()
    migrate()
    now = seed(size)
    ids = list(Subscription.objects.order_by("pk").values_list("pk", flat=True))
    counter = QueryCounter()
    invoices = 0
    with BackendCpu() as backends:
        cpu_before = time.process_time()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            for subscription_id in ids:
                report = subscription_bill(subscription_id=subscription_id, now=now)
                invoices += report.invoices_paid + report.invoices_unpaid
        elapsed = time.perf_counter() - started
        python_ms = (time.process_time() - cpu_before) * 1000
    backend_ms = backends.total * 1000
    print(
        f"one customer per transaction (the scheduler's job), {size:,} due subscriptions: "
        f"{invoices:,} invoices in {elapsed:.1f} s = {invoices / elapsed:.0f} invoices/s, "
        f"{counter.count / invoices:.1f} queries/invoice; CPU per invoice: Python "
        f"{python_ms / invoices:.3f} ms + PostgreSQL {backend_ms / invoices:.3f} ms "
        f"(= {invoices / ((python_ms + backend_ms) / 1000):,.0f} invoices per CPU-second)"
    )


def bench_scheduler(size: int) -> None:
    from django_apscheduler.models import DjangoJob

    from invoices.scheduler import BillingScheduler

    # The subscriptions billed by bench_bill_due(size) are live: give each its job.
    first = BillingScheduler(reconcile_seconds=3600, standby_seconds=1)
    before = time.perf_counter()
    first.start_in_background()
    leading, created = _started(first, before)
    first.stop()
    jobs = DjangoJob.objects.count()
    print(
        f"first start with {size:,} live subscriptions and no jobs: {created:6.1f} s until its "
        f"jobs are in step ({jobs:,} jobs created); billing runs after {leading:.2f} s"
    )

    rss_before = rss_mib()
    second = BillingScheduler(reconcile_seconds=3600, standby_seconds=1)
    before = time.perf_counter()
    second.start_in_background()
    leading, started = _started(second, before)
    rss_after = rss_mib()
    second.stop()
    print(
        f"scheduler start with {jobs:,} jobs in the job store: {started:6.1f} s until its jobs "
        f"are in step, billing runs after {leading:.2f} s; memory +{rss_after - rss_before:.0f} "
        f"MiB (process {rss_after:.0f} MiB)"
    )


def _started(scheduler, before: float) -> tuple[float, float]:
    """Seconds from ``before`` until the scheduler bills (it leads), and until every job is in
    step with its subscription (its start's full reconcile done)."""
    if not scheduler.wait_until_leading(3600):
        raise SystemExit("the scheduler did not start")
    leading = time.perf_counter() - before
    if not scheduler.wait_until_in_step(3600):
        raise SystemExit("the scheduler's jobs were not brought in step")
    return leading, time.perf_counter() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--no-scheduler", action="store_true")
    parser.add_argument(
        "--one-at-a-time",
        type=int,
        default=5000,
        metavar="N",
        help="due subscriptions the scheduler's job bills one customer at a time (0: skip)",
    )
    parser.add_argument(
        "--workers", type=int, help="BILLING_WORKERS for bill_due (default: the setting's)"
    )
    options = parser.parse_args()
    print(f"Machine: {machine()}")
    setup_django()
    if options.workers is not None:
        from django.conf import settings

        settings.BILLING_WORKERS = options.workers
    if options.one_at_a_time:
        bench_one_at_a_time(options.one_at_a_time)
    for size in options.sizes:
        bench_bill_due(size)
    if not options.no_scheduler:
        bench_scheduler(options.sizes[-1])


if __name__ == "__main__":
    main()
