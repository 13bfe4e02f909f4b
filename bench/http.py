"""
HTTP throughput and latency under gunicorn on PostgreSQL, each endpoint beside two ceilings
run in the same session: a constant JSON view, and hand-written views that do the same JWT
authentication and query with ``.values()`` and ``JsonResponse`` (see ``bench/views.py``).

    .venv/bin/python -m bench.http [--seconds 10] [--workers 3] [--connections 16]

Needs wrk (Debian's package) and a PostgreSQL server (BENCH_DATABASE_URL, by default
postgres://postgres@127.0.0.1:5432/billing_bench, which is dropped and made again).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import ROOT, bench_env, machine, migrate, recreate_database

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


def lua_for_post(path: str, tokens: list[str], bodies: list[str], threads: int) -> str:
    """A wrk script that walks through (token, body) pairs, each pair once across threads."""
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
  local n = i * {threads} + id
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
    return {
        "rps": rps,
        "p50": _ms(p50),
        "p99": _ms(p99),
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def _ms(match) -> float:
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")

    print(f"Machine: {machine()}")
    print("Preparing a fresh PostgreSQL database…", flush=True)
    recreate_database()
    migrate()
    seed = subprocess.run(
        [sys.executable, "-m", "bench.seed_http"],
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(seed.stdout.strip().splitlines()[-1])
    env = bench_env()
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
    try:
        wait_until_up(f"{BASE}/bench/constant/")
        history, buyers = data["history_token"], data["buyer_tokens"]
        buys = [
            (token, json.dumps({"plan": plan})) for plan in data["plan_ids"] for token in buyers
        ]
        with tempfile.TemporaryDirectory() as scratch:
            purchase_lua = Path(scratch, "purchase.lua")
            purchase_lua.write_text(
                lua_for_post(
                    "/api/v1/purchase-plan/",
                    [t for t, _ in buys],
                    [b for _, b in buys],
                    THREADS,
                )
            )
            top_up_lua = Path(scratch, "top_up.lua")
            top_up_lua.write_text(
                lua_for_post("/api/v1/credit/top-up/", buyers, ['{"amount": "1.00"}'], THREADS)
            )
            run = {
                "seconds": options.seconds,
                "connections": options.connections,
            }
            # Warm every worker up.
            wrk(f"{BASE}/api/v1/plans/", token=history, **{**run, "seconds": 2})
            results = {
                "constant view (ceiling)": wrk(f"{BASE}/bench/constant/", **run),
                "hand-written plans (ceiling)": wrk(f"{BASE}/bench/plans/", token=history, **run),
                "GET plans/": wrk(f"{BASE}/api/v1/plans/", token=history, **run),
                "hand-written invoices (ceiling)": wrk(
                    f"{BASE}/bench/invoices/", token=history, **run
                ),
                "GET invoices/": wrk(f"{BASE}/api/v1/invoices/", token=history, **run),
                "POST purchase-plan/": wrk(f"{BASE}/", script=str(purchase_lua), **run),
                "POST credit/top-up/": wrk(f"{BASE}/", script=str(top_up_lua), **run),
            }
    finally:
        server.terminate()
        server.wait(timeout=30)

    constant = results["constant view (ceiling)"]["rps"]
    ceilings = {
        "GET plans/": results["hand-written plans (ceiling)"]["rps"],
        "GET invoices/": results["hand-written invoices (ceiling)"]["rps"],
    }
    print(
        f"\ngunicorn {options.workers} sync workers, wrk 2 threads x {options.connections} "
        f"connections, {options.seconds} s each; invoices: a customer with {data['invoices']} "
        "invoices, page of 20\n"
    )
    print(f"{'endpoint':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'vs constant':>12} {'vs hand-written':>16}")  # fmt: skip
    for name, figures in results.items():
        hand = ceilings.get(name)
        versus_hand = f"{figures['rps'] / hand:.0%}" if hand else "-"
        print(
            f"{name:34} {figures['rps']:8.0f} {figures['p50']:8.2f} {figures['p99']:8.2f} "
            f"{figures['errors']:7d} {figures['rps'] / constant:11.0%} {versus_hand:>16}"
        )


if __name__ == "__main__":
    main()
