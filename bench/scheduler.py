"""
The scheduler at scale, on PostgreSQL: how long its first start takes with N live subscriptions
and no jobs (it creates a job per subscription), and how long a start takes and how much memory
it adds with N jobs already in the job store. Each start runs in a fresh process (so the memory
figure is the start's own), with nothing due: the catch-up finds nothing to bill and the figure
is the reconcile's. Two times for each start: until billing runs (the scheduler leads: catch-up
done, the due jobs in step), and until every job is in step (the full reconcile, which runs
while billing does) -- the start's figure.

    .venv/bin/python -m bench.scheduler [--sizes 10000 100000 300000] [--rounds 1]
        [--compare-with DIR]

BENCH_DATABASE_URL names the database (dropped and made afresh). ``--compare-with DIR`` also
times starts with the same jobs by the code in DIR (another checkout, e.g.
``git archive <commit> | tar -x -C DIR``, with this script copied into its bench/), interleaved.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from bench.common import ROOT, bench_env, machine, migrate, recreate_database, setup_django

PERIOD = timedelta(days=30)
BATCH = 5000


def status_of(n: int) -> str:
    """Most subscriptions active; some paused and suspended (their jobs are paused)."""
    if n % 20 == 7:
        return "paused"
    if n % 50 == 11:
        return "suspended"
    if n % 100 == 13:
        return "past_due"
    return "active"


def seed(size: int, *, first: int = 0) -> None:
    """``size`` customers with a live subscription each, started at random moments of the last
    period (each has its own term and next period start), nothing due."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import User
    from plans.models import Plan
    from subscriptions.models import Subscription

    now = timezone.now()
    plan = Plan.objects.filter(name="Bench").first() or Plan.objects.create(
        name="Bench", amount=Decimal("1.00")
    )
    password = make_password("bench-password-1")
    rng = random.Random(size)  # noqa: S311 (spread start times, not secrets)
    for offset in range(first, first + size, BATCH):
        batch = range(offset, min(first + size, offset + BATCH))
        users = User.objects.bulk_create(
            User(phone=f"+88017{n:08d}", name=f"Bench {n}", password=password, credit=0)
            for n in batch
        )
        subscriptions = []
        for n, user in zip(batch, users, strict=True):
            start = now - timedelta(seconds=rng.randrange(60, int(PERIOD.total_seconds()) - 60))
            status = status_of(n)
            subscriptions.append(
                Subscription(
                    user=user,
                    plan=plan,
                    plan_name=plan.name,
                    plan_amount=plan.amount,
                    plan_payment_cycle=30,
                    plan_months_validity=12,
                    plan_cancellable=False,
                    period_seconds=int(PERIOD.total_seconds()),
                    status=status,
                    start_at=start,
                    term_start_at=start,
                    end_at=start + 12 * PERIOD,
                    next_boundary_at=start + PERIOD,
                    paused_at=now if status == "paused" else None,
                    created_at=start,
                )
            )
        Subscription.objects.bulk_create(subscriptions)


def rss_mib(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child() -> None:
    """One scheduler start in this fresh process: print its time and memory as JSON."""
    setup_django()
    from django.db import connections
    from django_apscheduler.models import DjangoJob

    from invoices.scheduler import BillingScheduler
    from subscriptions.models import Subscription

    jobs_before = DjangoJob.objects.count()
    Subscription.objects.exists()  # the connection and the models loaded: not the start's cost
    connections.close_all()
    rss_before = rss_mib()
    started = time.perf_counter()
    cpu = time.process_time()
    scheduler = BillingScheduler(reconcile_seconds=3600, standby_seconds=1)
    scheduler.start_in_background()
    if not scheduler.wait_until_leading(3600):
        raise SystemExit("the scheduler did not start")
    leading = time.perf_counter() - started
    # Code from before the start reconciled in the background is in step once it leads.
    in_step = getattr(scheduler, "wait_until_in_step", lambda timeout: True)
    if not in_step(3600):
        raise SystemExit("the scheduler's jobs were not brought in step")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    rss_after = rss_mib()
    peak = rss_mib("VmHWM")
    scheduler.stop()
    jobs_after = DjangoJob.objects.count()
    print(
        json.dumps(
            {
                "leading": leading,
                "seconds": elapsed,
                "cpu": cpu,
                "rss_before": rss_before,
                "rss_after": rss_after,
                "peak": peak,
                "jobs_before": jobs_before,
                "jobs_after": jobs_after,
            }
        )
    )


def start_once(root: Path = ROOT) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bench.scheduler", "--child"],
        cwd=root,
        env={**bench_env(), "PYTHONPATH": str(root)},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def delete_jobs() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_apscheduler_djangojobexecution")
        cursor.execute("DELETE FROM django_apscheduler_djangojob")


def job_store_size() -> tuple[int, int]:
    """Rows and bytes (table, TOAST and indexes) of the job store."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), pg_total_relation_size('django_apscheduler_djangojob')"
            " FROM django_apscheduler_djangojob"
        )
        rows, size = cursor.fetchone()
    return rows, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=1, help="starts of each kind per size")
    parser.add_argument("--compare-with", type=Path, help="a checkout of other code to compare")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child()
        return
    print(f"Machine: {machine()}")
    setup_django()
    from django.db import connections

    seeded = 0
    connections.close_all()
    recreate_database()
    migrate()
    for size in sorted(options.sizes):
        seed(size - seeded, first=seeded)
        seeded = size
        firsts, restarts, others = [], [], []
        for _ in range(options.rounds):
            delete_jobs()
            connections.close_all()
            firsts.append(start_once())
            restarts.append(start_once())
            if options.compare_with:
                others.append(start_once(options.compare_with))
        rows, size_bytes = job_store_size()
        first = statistics.median(r["seconds"] for r in firsts)
        first_leading = statistics.median(r["leading"] for r in firsts)
        first_cpu = statistics.median(r["cpu"] for r in firsts)
        print(
            f"{size:>7,} live subscriptions, no jobs: first start {first:6.2f} s until its jobs"
            f" are in step, billing runs after {first_leading:.2f} s "
            f"(scheduler process CPU {first_cpu:.2f} s; {firsts[-1]['jobs_after']:,} jobs created;"
            f" job store {size_bytes / 2**20:.0f} MiB, {size_bytes / max(rows, 1):.0f} bytes/job)"
        )
        for label, runs in (("", restarts), (f" [{options.compare_with}]", others)):
            if runs:
                print_restart(size, label, runs)


def print_restart(size: int, label: str, runs: list[dict]) -> None:
    again = statistics.median(r["seconds"] for r in runs)
    leading = statistics.median(r["leading"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    extra = statistics.median(r["rss_after"] - r["rss_before"] for r in runs)
    peak = statistics.median(r["peak"] - r["rss_before"] for r in runs)
    print(
        f"{size:>7,} jobs in the job store{label}: start {again:6.2f} s until its jobs are in"
        f" step (CPU {cpu:.2f} s), billing runs after {leading:.2f} s; "
        f"memory +{extra:.0f} MiB after, +{peak:.0f} MiB at peak "
        f"(process {runs[-1]['rss_after']:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
