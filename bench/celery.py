"""
Billing on Celery workers, PostgreSQL and Redis: ``size`` customers with a period due, the
sweep enqueues them (``invoices.tasks.due_enqueue``, ``BILLING_TASK_BATCH`` customers a task),
and 1, then 2 ``celery -A config worker`` processes bill them; the rate is invoices per second
from the first enqueue to the last invoice. For comparison, ``bill_due`` bills the same in
this process first (what the scheduler does without a broker).

    .venv/bin/python -m bench.celery [--size 10000] [--workers 1 2] [--concurrency 1] [--batch 500]
                                   [--rounds 1]

The broker's Redis database is flushed: ``BENCH_BROKER_URL`` (default redis://127.0.0.1:6379/15)
must be one nothing else uses. The database is ``BENCH_DATABASE_URL``, made afresh.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, bench_env, machine, migrate, recreate_database, setup_django

BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/15")


def start_worker(name: str, concurrency: int, batch: int, log: Path) -> subprocess.Popen:
    env = {**bench_env(), "CELERY_BROKER_URL": BROKER_URL, "BILLING_TASK_BATCH": str(batch)}
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--hostname", f"{name}@%h",
        "--concurrency", str(concurrency), "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    with log.open("w") as output:  # a file: a pipe nobody reads would stall the worker
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def wait_until_ready(process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while "ready." not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"a worker did not start:\n{log.read_text()}")
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def bench_workers(size: int, workers: int, concurrency: int, batch: int) -> float:
    import redis
    from django.db import connections

    from bench.billing import seed
    from invoices.models import Invoice
    from invoices.tasks import due_enqueue

    connections.close_all()
    recreate_database()
    migrate()
    now = seed(size)
    redis.Redis.from_url(BROKER_URL).flushdb()
    logs = Path(tempfile.mkdtemp(prefix="bench-celery-"))
    processes = [
        start_worker(f"bench{n}", concurrency, batch, logs / f"worker{n}.log")
        for n in range(workers)
    ]
    try:
        for n, process in enumerate(processes):
            wait_until_ready(process, logs / f"worker{n}.log")
        started = time.perf_counter()
        queued = due_enqueue(now=now, batch=batch)
        enqueued = time.perf_counter() - started
        while (issued := Invoice.objects.count()) < size:
            if time.perf_counter() - started > 3600:
                raise SystemExit(f"only {issued:,} of {size:,} invoices after an hour")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            stop(process)
    rate = size / elapsed
    print(
        f"{workers} worker(s) x {concurrency} process(es), {queued:,} customers in tasks of "
        f"{batch}: {size:,} invoices in {elapsed:6.1f} s = {rate:7.0f} invoices/s "
        f"(enqueuing took {enqueued:.2f} s)"
    )
    return rate


def bench_in_process(size: int) -> float:
    """The same billing by ``bill_due`` in this process, as the scheduler does without a broker."""
    from django.db import connections

    from bench.billing import seed
    from invoices.billing import bill_due

    connections.close_all()
    recreate_database()
    migrate()
    now = seed(size)
    started = time.perf_counter()
    report = bill_due(now=now)
    elapsed = time.perf_counter() - started
    invoices = report.invoices_paid + report.invoices_unpaid
    rate = invoices / elapsed
    print(
        f"no broker (bill_due in the scheduler's process): {invoices:,} invoices in "
        f"{elapsed:6.1f} s = {rate:7.0f} invoices/s"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=1, help="processes per worker")
    parser.add_argument("--batch", type=int, default=500, help="customers per task")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (medians)")
    options = parser.parse_args()
    os.environ["CELERY_BROKER_URL"] = BROKER_URL  # this process enqueues there
    print(f"Machine: {machine()}")
    setup_django()
    rates: dict[int, list[float]] = {0: [], **{workers: [] for workers in options.workers}}
    for _ in range(options.rounds):
        rates[0].append(bench_in_process(options.size))
        for workers in options.workers:
            rate = bench_workers(options.size, workers, options.concurrency, options.batch)
            rates[workers].append(rate)
    medians = {workers: statistics.median(values) for workers, values in rates.items()}
    print(f"Medians of {options.rounds} round(s), {options.size:,} invoices:")
    for workers, rate in medians.items():
        label = "no broker" if workers == 0 else f"{workers} worker(s)"
        print(f"  {label:>12}: {rate:7.0f} invoices/s ({rate / medians[0]:.2f}x no broker)")


if __name__ == "__main__":
    main()
