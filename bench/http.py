"""
HTTP throughput and latency under gunicorn on PostgreSQL, each endpoint beside two ceilings
run in the same session: a constant JSON view, and hand-written views that do the same JWT
authentication and query with ``.values()`` and ``JsonResponse`` (see ``bench/views.py``).

    .venv/bin/python -m bench.http [--seconds 10] [--workers 3] [--connections 16]
        [--rounds 1] [--only 'GET plans/' ...] [--cache-url redis://127.0.0.1:6379/15]

Needs wrk (Debian's package) and a PostgreSQL server (BENCH_DATABASE_URL, by default
postgres://postgres@127.0.0.1:5432/billing_bench, which is dropped and made again).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import ROOT, bench_env, machine, migrate, recreate_database
from bench.seed_http import CUSTOMERS

PORT = 8765
THREADS = 2
BASE = f"http://127.0.0.1:{PORT}"


def wait_until_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer on {url}")


def lua_for_post(
    path: str, tokens: list[str], bodies: list[str], threads: int, offset: int = 0
) -> str:
    """A wrk script that walks through (token, body) pairs, each pair once across threads,
    from pair ``offset`` on (a later round goes on where the last one stopped)."""
    return f"""
local tokens = {{{", ".join(json.dumps(t) for t in tokens)}}}
local bodies = {{{", ".join(json.dumps(b) for b in bodies)}}}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
local i = 0
request = function()
  local n = i * {threads} + id + {offset}
  i = i + 1
  local headers = {{}}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1]
  return wrk.format("POST", "{path}", headers, bodies[(n % #bodies) + 1])
end
"""


def wrk(url: str, *, seconds: int, connections: int, token: str | None = None, script=None):
    command = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    if script:
        command += ["-s", script]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    total = re.search(r"(\d+) requests in", output)
    return {
        "requests": int(total.group(1)),
        "rps": rps,
        "p50": _ms(p50),
        "p99": _ms(p99),
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def _ms(match) -> float:
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def post_json(path: str, token: str, body: dict) -> None:
    request = urllib.request.Request(
        f"{BASE}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()


# (name, ceiling it is compared with or None)
ENDPOINTS = [
    ("constant view (ceiling)", None),
    ("hand-written plans (ceiling)", None),
    ("GET plans/", "hand-written plans (ceiling)"),
    ("hand-written invoices (ceiling)", None),
    ("GET invoices/", "hand-written invoices (ceiling)"),
    ("hand-written subscriptions (ceiling)", None),
    ("GET subscriptions/", "hand-written subscriptions (ceiling)"),
    ("POST purchase-plan/", None),
    ("POST credit/top-up/", None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every endpoint this many times, interleaved; the median is printed",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="the endpoints to run (as printed, e.g. 'GET plans/'); the constant view always runs",
    )
    parser.add_argument(
        "--cache-url",
        default=None,
        help="CACHE_URL for the server (e.g. redis://127.0.0.1:6379/15); local memory if unset",
    )
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")

    print(f"Machine: {machine()}")
    print("Preparing a fresh PostgreSQL database…", flush=True)
    recreate_database()
    migrate()
    seed = subprocess.run(
        # Every purchase needs a fresh (buyer, plan) pair: buyers enough for every round.
        [sys.executable, "-m", "bench.seed_http", "--customers", str(CUSTOMERS * options.rounds)],
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(seed.stdout.strip().splitlines()[-1])
    env = bench_env()
    if options.cache_url:
        env["CACHE_URL"] = options.cache_url
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            f"--workers={options.workers}",
            f"--bind=127.0.0.1:{PORT}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=env,
    )
    names = [name for name, _ in ENDPOINTS]
    if options.only is not None:
        unknown = set(options.only) - set(names)
        if unknown:
            raise SystemExit(f"unknown endpoints: {sorted(unknown)}; known: {names}")
        names = [n for n in names if n in options.only or n == "constant view (ceiling)"]
    try:
        wait_until_up(f"{BASE}/bench/constant/")
        history, buyers = data["history_token"], data["buyer_tokens"]
        # A page of 20 subscriptions for the lists: the history customer buys 19 more plans.
        for plan in data["plan_ids"][:19]:
            post_json("/api/v1/purchase-plan/", history, {"plan": plan})
        buys = [
            (token, json.dumps({"plan": plan})) for plan in data["plan_ids"] for token in buyers
        ]
        with tempfile.TemporaryDirectory() as scratch:
            purchase_lua = Path(scratch, "purchase.lua")
            top_up_lua = Path(scratch, "top_up.lua")
            done = {"purchase": 0, "top_up": 0}  # pairs used so far: each round goes on

            def write_scripts() -> None:
                purchase_lua.write_text(
                    lua_for_post(
                        "/api/v1/purchase-plan/",
                        [t for t, _ in buys],
                        [b for _, b in buys],
                        THREADS,
                        offset=done["purchase"],
                    )
                )
                top_up_lua.write_text(
                    lua_for_post(
                        "/api/v1/credit/top-up/",
                        buyers,
                        ['{"amount": "1.00"}'],
                        THREADS,
                        offset=done["top_up"],
                    )
                )

            targets = {
                "constant view (ceiling)": {"url": f"{BASE}/bench/constant/"},
                "hand-written plans (ceiling)": {"url": f"{BASE}/bench/plans/", "token": history},
                "GET plans/": {"url": f"{BASE}/api/v1/plans/", "token": history},
                "hand-written invoices (ceiling)": {
                    "url": f"{BASE}/bench/invoices/",
                    "token": history,
                },
                "GET invoices/": {"url": f"{BASE}/api/v1/invoices/", "token": history},
                "hand-written subscriptions (ceiling)": {
                    "url": f"{BASE}/bench/subscriptions/",
                    "token": history,
                },
                "GET subscriptions/": {"url": f"{BASE}/api/v1/subscriptions/", "token": history},
                "POST purchase-plan/": {"url": f"{BASE}/", "script": str(purchase_lua)},
                "POST credit/top-up/": {"url": f"{BASE}/", "script": str(top_up_lua)},
            }
            run = {"seconds": options.seconds, "connections": options.connections}
            # Warm every worker up.
            wrk(f"{BASE}/api/v1/plans/", token=history, **{**run, "seconds": 2})
            rounds: dict[str, list[dict]] = {name: [] for name in names}
            for number in range(options.rounds):
                if options.rounds > 1:
                    print(f"round {number + 1} of {options.rounds}…", flush=True)
                for name in names:
                    write_scripts()
                    target = targets[name]
                    figures = wrk(
                        target["url"], token=target.get("token"), script=target.get("script"), **run
                    )
                    rounds[name].append(figures)
                    # Thread t of wrk sends pairs offset + t, offset + t + THREADS, …: one thread
                    # may send more than the others, so the next round starts past what the
                    # busiest could have used (in-flight requests included).
                    used = THREADS * (figures["requests"] + options.connections)
                    if name == "POST purchase-plan/":
                        done["purchase"] += used
                    elif name == "POST credit/top-up/":
                        done["top_up"] += used
    finally:
        server.terminate()
        server.wait(timeout=30)

    results = {name: _median(figures) for name, figures in rounds.items()}
    constant = results["constant view (ceiling)"]["rps"]
    print(
        f"\ngunicorn {options.workers} sync workers, wrk 2 threads x {options.connections} "
        f"connections, {options.seconds} s each, {options.rounds} round(s) (medians); "
        f"cache: {options.cache_url or 'local memory'}; invoices: a customer with "
        f"{data['invoices']} invoices, page of 20; subscriptions: the same customer's 20\n"
    )
    print(f"{'endpoint':38} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'vs constant':>12} {'vs hand-written':>16}")  # fmt: skip
    ceilings = dict(ENDPOINTS)
    for name, figures in results.items():
        ceiling = ceilings[name]
        hand = results[ceiling]["rps"] if ceiling in results else None
        versus_hand = f"{figures['rps'] / hand:.0%}" if hand else "-"
        print(
            f"{name:38} {figures['rps']:8.0f} {figures['p50']:8.2f} {figures['p99']:8.2f} "
            f"{figures['errors']:7d} {figures['rps'] / constant:11.0%} {versus_hand:>16}"
        )


def _median(figures: list[dict]) -> dict:
    """Each figure's median over the rounds (errors: the sum)."""
    return {
        "rps": statistics.median(f["rps"] for f in figures),
        "p50": statistics.median(f["p50"] for f in figures),
        "p99": statistics.median(f["p99"] for f in figures),
        "errors": sum(f["errors"] for f in figures),
    }


if __name__ == "__main__":
    main()
