"""
What 1 M and 10 M subscriptions need, from the per-component costs measured on the benchmark
machine (``bench/scheduler.py``, ``bench/billing.py``; the defaults below are the figures in
docs/benchmarks.md and docs/scaling.md), by arithmetic and by simulating what can't be run
here: the billing queue after a downtime, with W workers each billing at the measured
single-process rate.

    .venv/bin/python -m bench.scaling [--rate 232] [--sizes 1000000 10000000]

No database: it only computes and simulates.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random

DAY = 86400.0
HOUR = 3600.0


def catch_up_seconds(*, backlog: float, arrivals_per_second: float, capacity: float) -> float:
    """How long W workers take to drain a backlog while new periods keep falling due."""
    if capacity <= arrivals_per_second:
        return math.inf
    return backlog / (capacity - arrivals_per_second)


def simulate(
    *,
    subscriptions: int,
    cycle_days: float,
    downtime: float,
    workers: int,
    rate: float,
    month_start_share: float = 0.0,
    seed: int = 1,
) -> tuple[float, float]:
    """
    Period starts fall due at random moments of the cycle (``month_start_share`` of them in the
    same hour, as when many customers bought on the first of a month); the billing was down
    for ``downtime`` seconds before t=0, so everything due in that time is waiting at t=0.
    Each worker bills one invoice in 1/rate seconds, oldest first. Returns (seconds from t=0
    until nothing waits, the longest any invoice waited after t=0, in seconds).
    """
    rng = random.Random(seed)  # noqa: S311 (a simulation, not secrets)
    cycle = cycle_days * DAY
    horizon = downtime + 2 * DAY  # long enough to see the queue empty again
    # Only the period starts in [-downtime, horizon) matter: a binomial sample of them.
    window = downtime + horizon
    share = min(window / cycle, 1.0)
    clustered = round(subscriptions * month_start_share)
    expected = (subscriptions - clustered) * share
    count = max(0, round(rng.gauss(expected, math.sqrt(expected * (1 - share)))))
    due = [rng.uniform(-downtime, horizon) for _ in range(count)]
    # The clustered ones: within the hour after the restart (or after t=0 with no downtime).
    due += [rng.uniform(0.0, HOUR) for _ in range(clustered)]
    due.sort()
    service = 1.0 / rate
    free = [0.0] * workers  # when each worker is next free (t=0: the restart)
    heapq.heapify(free)
    drained = math.inf
    longest = 0.0
    for when in due:
        worker = heapq.heappop(free)
        start = max(worker, when, 0.0)
        longest = max(longest, start - max(when, 0.0))
        heapq.heappush(free, start + service)
        if when > 0 and start == when and drained == math.inf:
            drained = when  # the first invoice billed on time after the restart
    return drained, longest


def human(seconds: float) -> str:
    if seconds == math.inf:
        return "never (workers slower than arrivals)"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * HOUR:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / HOUR:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--cycle-days", type=float, default=30.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=232.0,
        help="invoices/s of one billing process (bench/billing.py, docs/benchmarks.md)",
    )
    parser.add_argument("--bytes-per-job", type=float, default=780.0)
    parser.add_argument(
        "--start-us", type=float, default=35.0, help="scheduler start, µs per existing job"
    )
    parser.add_argument(
        "--create-us", type=float, default=60.0, help="first start, µs per job created"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--month-start-share", type=float, default=0.2)
    options = parser.parse_args()
    rate = options.rate
    print(
        f"Inputs: {rate:g} invoices/s per worker, {options.bytes_per_job:g} bytes per job, "
        f"start {options.start_us:g} µs/job, first start {options.create_us:g} µs/job, "
        f"cycle {options.cycle_days:g} days"
    )
    for size in options.sizes:
        per_day = size / options.cycle_days
        arrivals = per_day / DAY
        print(f"\n## {size:,} live subscriptions")
        print(f"- job store: {size * options.bytes_per_job / 2**30:.1f} GiB ({size:,} rows)")
        print(
            f"- scheduler start with its jobs: {size * options.start_us / 1e6:.0f} s; "
            f"first start (creates every job): {size * options.create_us / 1e6:.0f} s"
        )
        print(
            f"- daily billing: {per_day:,.0f} invoices a day, {arrivals:.2f}/s on average; "
            f"one worker busy {per_day / rate / 60:.0f} min a day "
            f"({per_day / rate / DAY:.1%})"
        )
        print("\n| downtime | backlog | workers | catch-up (formula) | simulated | longest wait |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, downtime in (("1 hour", HOUR), ("1 day", DAY)):
            backlog = arrivals * downtime
            for workers in options.workers:
                formula = catch_up_seconds(
                    backlog=backlog, arrivals_per_second=arrivals, capacity=workers * rate
                )
                drained, longest = simulate(
                    subscriptions=size,
                    cycle_days=options.cycle_days,
                    downtime=downtime,
                    workers=workers,
                    rate=rate,
                )
                print(
                    f"| {label} | {backlog:,.0f} | {workers} | {human(formula)} | "
                    f"{human(drained)} | {human(longest)} |"
                )
        clustered = size * options.month_start_share
        print(
            f"\nA month-start rush ({options.month_start_share:.0%} of the subscriptions "
            f"renewing in the same hour, {clustered:,.0f} invoices, no downtime):"
        )
        for workers in options.workers:
            _, longest = simulate(
                subscriptions=size,
                cycle_days=options.cycle_days,
                downtime=0.0,
                workers=workers,
                rate=rate,
                month_start_share=options.month_start_share,
            )
            print(f"- {workers} worker(s): the last of them billed {human(longest)} late")
        needed = math.ceil((arrivals * DAY / HOUR + arrivals) / rate)
        print(
            f"\nWorkers to bill a day's downtime within an hour: {needed}; to bill the "
            f"month-start rush within an hour: {math.ceil(clustered / HOUR / rate)}"
        )


if __name__ == "__main__":
    main()
