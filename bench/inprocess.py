"""
CPU time of the Django process per request, in-process (Django's test client, ``bench.settings``),
for the endpoints of ``bench/http.py`` and their ceilings: medians of interleaved rounds. Less
sensitive than the HTTP figures to a machine busy with other work; compare within one run.

    DATABASE_URL=sqlite:////tmp/inprocess.sqlite3 .venv/bin/python -m bench.inprocess \
        [--requests 60] [--rounds 3]

Uses the database in DATABASE_URL as it is (an SQLite file is made and migrated if missing) and
adds a customer with 20 subscriptions and plans to buy. Stops if a hand-written ceiling's answer
differs from its endpoint's (``bench/views.py``).

Instruction counts (exact on a busy machine) of the timed requests only, one endpoint at a time:

    DATABASE_URL=sqlite:////tmp/inprocess.sqlite3 valgrind --tool=callgrind \
        --toggle-collect=_operator_call --callgrind-out-file=/tmp/cg.out \
        .venv/bin/python -m bench.inprocess --only 'GET plans/' --requests 40 --rounds 1
    grep ^summary: /tmp/cg.out   # divided by 40: instructions per request
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHONE = "+8801799999998"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--requests", type=int, default=60, help="requests per round and endpoint")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only", nargs="*", default=None, help="endpoints to run, as printed ('GET plans/')"
    )
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ.setdefault("CACHE_URL", "locmem://")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.credit import credit_top_up
    from accounts.models import User
    from invoices.billing import subscription_purchase
    from plans.models import Plan

    call_command("migrate", verbosity=0)
    user = User.objects.filter(phone=PHONE).first()
    if user is None:
        user = User.objects.create_user(PHONE, None, name="In-process", phone_verified=True)
        credit_top_up(user_id=user.pk, amount=Decimal("100000"))
        for n in range(20):
            plan = Plan.objects.create(name=f"In-process {n}", amount=Decimal("1.00"))
            subscription_purchase(user_id=user.pk, plan_id=plan.pk)
    # One plan not bought yet for each purchase.
    needed = options.requests * options.rounds + 40
    to_buy = Plan.objects.filter(name__startswith="Buy ").exclude(subscriptions__user=user)
    missing = needed - to_buy.count()
    if missing > 0:
        start = Plan.objects.filter(name__startswith="Buy ").count()
        Plan.objects.bulk_create(
            [Plan(name=f"Buy {start + i}", amount=Decimal("0.01")) for i in range(missing)]
        )
    plans_to_buy = iter(list(to_buy.values_list("pk", flat=True)))

    client = Client(
        HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}", HTTP_HOST="127.0.0.1"
    )

    def get(path: str):
        return lambda: client.get(path)

    def top_up():
        body = '{"amount": "1.00"}'
        return client.post("/api/v1/credit/top-up/", data=body, content_type="application/json")

    def purchase():
        body = json.dumps({"plan": next(plans_to_buy)})
        return client.post("/api/v1/purchase-plan/", data=body, content_type="application/json")

    endpoints = {
        "constant view (ceiling)": get("/bench/constant/"),
        "hand-written plans (ceiling)": get("/bench/plans/"),
        "GET plans/": get("/api/v1/plans/"),
        "hand-written invoices (ceiling)": get("/bench/invoices/"),
        "GET invoices/": get("/api/v1/invoices/"),
        "hand-written subscriptions (ceiling)": get("/bench/subscriptions/"),
        "GET subscriptions/": get("/api/v1/subscriptions/"),
        "POST credit/top-up/": top_up,
        "POST purchase-plan/": purchase,
    }
    if options.only is not None:
        unknown = set(options.only) - set(endpoints)
        if unknown:
            raise SystemExit(f"unknown endpoints: {sorted(unknown)}; known: {list(endpoints)}")
        endpoints = {name: call for name, call in endpoints.items() if name in options.only}
    # A ceiling is fair only if it answers what the API answers: the same bytes (the links aside).
    for name in ("plans", "invoices", "subscriptions"):
        ceiling = client.get(f"/bench/{name}/").content.replace(b"/bench/", b"/api/v1/")
        if ceiling != client.get(f"/api/v1/{name}/").content:
            raise SystemExit(f"the hand-written {name} answer differs from GET {name}/")
    queries = {}
    for name, call in endpoints.items():
        for _ in range(10):  # warm up
            response = call()
            if response.status_code not in (200, 201):
                raise SystemExit(f"{name}: {response.status_code} {response.content[:300]!r}")
        with CaptureQueriesContext(connection) as captured:
            call()
        queries[name] = len(captured.captured_queries)
    cpu: dict[str, list[float]] = {name: [] for name in endpoints}
    for _ in range(options.rounds):
        for name, call in endpoints.items():
            started = time.process_time()
            operator.call(repeat, call, options.requests)
            cpu[name].append((time.process_time() - started) / options.requests * 1000)
    print(f"{connection.vendor}, {options.rounds} rounds of {options.requests} requests (medians)")
    print(f"{'endpoint':38} {'CPU ms':>8} {'queries':>8}")
    for name in endpoints:
        print(f"{name:38} {statistics.median(cpu[name]):8.2f} {queries[name]:8d}")


def repeat(call, times: int) -> None:
    for _ in range(times):
        call()


if __name__ == "__main__":
    main()
