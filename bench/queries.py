"""
Database queries per request of every list endpoint at page sizes 1 and 100: the count must
not grow with the page (no N+1).

    .venv/bin/python -m bench.queries
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from bench.common import machine, migrate, recreate_database, setup_django

ROWS = 150


def main() -> None:
    print(f"Machine: {machine()}")
    recreate_database()
    migrate()
    setup_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.credit import credit_top_up
    from accounts.models import User
    from invoices.billing import bill_due, subscription_purchase
    from plans.models import Plan

    customer = User.objects.create_user(
        "+8801700000001", "bench-password-1", name="Bench", phone_verified=True
    )
    credit_top_up(user_id=customer.pk, amount=Decimal("100000"))
    start = timezone.now() - timedelta(days=ROWS)
    for n in range(ROWS):
        plan = Plan.objects.create(
            name=f"Plan {n}", amount=Decimal("1.00"), payment_cycle=1, total_valid_months=1000
        )
        subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=start)
        if n % 10 == 0:
            credit_top_up(user_id=customer.pk, amount=Decimal("1"))
    bill_due(now=start + timedelta(days=1))  # another ROWS invoices and ledger lines

    client = Client(
        HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(customer)}", HTTP_HOST="127.0.0.1"
    )
    endpoints = [
        "/api/v1/plans/",
        "/api/v1/credit/transactions/",
        "/api/v1/subscriptions/",
        "/api/v1/invoices/",
        "/api/v1/invoices/?status=paid",
    ]
    print(f"\n{'list endpoint':34} {'page_size=1':>12} {'page_size=100':>14}")
    for path in endpoints:
        counts = []
        for size in (1, 100):
            separator = "&" if "?" in path else "?"
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"{path}{separator}page_size={size}")
            if response.status_code != 200 or len(response.json()["results"]) != size:
                raise SystemExit(f"{path}: unexpected answer {response.status_code}")
            counts.append(len(queries))
        print(f"{path:34} {counts[0]:12d} {counts[1]:14d}")
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/invoices/statistics/")
    print(f"{'/api/v1/invoices/statistics/':34} {len(queries):12d} {'(no pages)':>14}")


if __name__ == "__main__":
    main()
