"""
The operator's dashboard on PostgreSQL with 100,000 invoices: how long the admin's home page
takes to answer (figures, charts, template) for each window, and how many queries it makes.

The business, made with bulk_create: ``--invoices / 10`` customers, each with a subscription
bought up to a year ago and ten monthly invoices (the last ones unpaid when the customer ran
short), the ledger (a top-up and a payment per invoice), the outbox's events (invoice.created
and invoice.paid per invoice, subscription.* for the status changes), a billing job per live
subscription, failing webhook endpoints and billing failures.

    .venv/bin/python -m bench.dashboard [--invoices 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from datetime import timedelta
from decimal import Decimal

from bench.common import machine, migrate, recreate_database, setup_django

BATCH = 5000
STATUSES = ["active"] * 80 + ["past_due"] * 3 + ["paused"] * 6 + ["suspended"] * 6
STATUSES += ["cancelled"] * 3 + ["expired"] * 2


class _Stream:
    """One customer's events, numbered in order as the outbox numbers them."""

    def __init__(self, user, events: list) -> None:
        self.user, self.events, self.sequence = user, events, 0

    def add(self, type_: str, at, data: dict) -> None:
        from events.models import Event

        self.sequence += 1
        self.events.append(
            Event(
                public_id=f"evt_{uuid.uuid4().hex}", type=type_, customer=self.user,
                customer_phone=str(self.user.phone), sequence=self.sequence, occurred_at=at,
                created_at=at, data=data, payload=json.dumps(data), dispatched_at=at,
            )
        )  # fmt: skip


def seed(invoices: int) -> None:
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone
    from django_apscheduler.models import DjangoJob

    from accounts.models import CreditTransaction, User
    from events.models import Event
    from invoices.models import BillingFailure, Invoice
    from plans.models import Plan
    from subscriptions.models import Subscription
    from webhooks.models import WebhookEndpoint

    rng = random.Random(100_000)  # noqa: S311 (benchmark data)
    now = timezone.now()
    day = timedelta(days=1)
    period = 30 * day
    plans = [
        Plan.objects.create(name=name, amount=Decimal(amount))
        for name, amount in (("Bronze", "500"), ("Silver", "800"), ("Gold", "1200"))
    ]
    password = make_password("bench-password-1")
    customers = invoices // 10
    number = 0
    for offset in range(0, customers, BATCH):
        batch = range(offset, min(customers, offset + BATCH))
        statuses = [rng.choice(STATUSES) for _ in batch]
        users = User.objects.bulk_create(
            User(
                phone=f"+88017{n:08d}",
                name=f"Bench {n}",
                password=password,
                # A few are short for their renewal in the coming days (the forecast's list).
                credit=Decimal(0) if n % 50 == 0 else Decimal(5000),
            )
            for n in batch
        )
        subscriptions = []
        for user, status in zip(users, statuses, strict=True):
            plan = plans[user.pk % 3]
            # Ten periods began by now; the eleventh begins within 30 days.
            start = now - 10 * period + rng.randrange(1, 30 * 24) * timedelta(hours=1)
            ended = status in ("cancelled", "expired")
            subscriptions.append(
                Subscription(
                    user=user, plan=plan, plan_name=plan.name, plan_amount=plan.amount,
                    plan_payment_cycle=30, plan_months_validity=12, plan_cancellable=True,
                    period_seconds=int(period.total_seconds()), status=status,
                    start_at=start, end_at=start + 12 * period, term_start_at=start,
                    current_period_index=9, created_at=start,
                    next_boundary_at=None if ended else start + 10 * period,
                    grace_ends_at=start + 9 * period + 3 * day if status == "past_due" else None,
                    ended_at=now - rng.randrange(1, 300) * day if ended else None,
                )
            )  # fmt: skip
        Subscription.objects.bulk_create(subscriptions)
        ledger, bills, events = [], [], []
        for user, subscription in zip(users, subscriptions, strict=True):
            event = _Stream(user, events).add

            def state(status, subscription=subscription):
                return {"id": subscription.pk, "status": status, "plan_id": subscription.plan_id}

            event("subscription.created", subscription.start_at, state("active"))
            unpaid_from = 9 if subscription.status in ("past_due", "suspended") else 10
            for index in range(10):
                at = subscription.start_at + index * period
                number += 1
                paid = index < unpaid_from
                ledger.append(
                    CreditTransaction(
                        user=user, amount=subscription.plan_amount, kind="top_up",
                        balance_after=subscription.plan_amount, created_at=at - day,
                    )
                )  # fmt: skip
                payment = None
                if paid:
                    payment = CreditTransaction(
                        user=user, amount=-subscription.plan_amount, kind="invoice_payment",
                        balance_after=0, created_at=at,
                    )  # fmt: skip
                    ledger.append(payment)
                bills.append(
                    Invoice(
                        subscription=subscription, user=user, plan=subscription.plan,
                        period_index=index, period_start=at, period_end=at + period,
                        plan_name=subscription.plan_name, amount=subscription.plan_amount,
                        status="paid" if paid else "unpaid", issued_at=at,
                        paid_at=at if paid else None, payment=payment,
                        number=f"INV-{at.year}-{number:07d}", number_year=at.year,
                        number_seq=number,
                    )
                )  # fmt: skip
                data = {"id": number, "status": "paid" if paid else "unpaid"}
                event("invoice.created", at, data)
                if paid:
                    event("invoice.paid", at, data)
            last = subscription.start_at + 9 * period
            if subscription.status == "suspended":
                event("subscription.suspended", last, state("suspended"))
            elif subscription.status == "past_due":
                event("subscription.past_due", last, state("past_due"))
            elif subscription.status == "paused":
                event("subscription.paused", last + 2 * day, state("paused"))
            elif subscription.status == "active" and user.pk % 7 == 0:
                # Suspended at a renewal, resumed by a top-up two days later.
                event("subscription.suspended", last - period, state("suspended"))
                event("subscription.resumed", last - period + 2 * day, state("active"))
            elif subscription.status in ("cancelled", "expired"):
                event(f"subscription.{subscription.status}", subscription.ended_at,
                      state(subscription.status))  # fmt: skip
        CreditTransaction.objects.bulk_create([line for line in ledger if line.amount > 0])
        CreditTransaction.objects.bulk_create([line for line in ledger if line.amount < 0])
        for bill in bills:
            bill.payment_id = bill.payment.pk if bill.payment else None
        Invoice.objects.bulk_create(bills, batch_size=BATCH)
        Event.objects.bulk_create(events, batch_size=BATCH)
        DjangoJob.objects.bulk_create(
            DjangoJob(
                id=f"subscription-{s.pk}",
                next_run_time=s.next_boundary_at if s.status in ("active", "past_due") else None,
                job_state=b"",
            )
            for s in subscriptions
            if s.status not in ("cancelled", "expired")
        )
    for n in range(5):
        WebhookEndpoint.objects.create(
            url=f"https://hooks{n}.example/", secret="whsec_bench",  # noqa: S106
            failing_since=now - n * day if n % 2 else None,
        )  # fmt: skip
    BillingFailure.objects.bulk_create(
        BillingFailure(user_id=user_id, error="RuntimeError: bench", first_failed_at=now,
                       last_failed_at=now)
        for user_id in User.objects.order_by("id").values_list("id", flat=True)[:30]
    )  # fmt: skip


def render(days: int, repeat: int) -> None:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    staff = User.objects.create_user("+8801999999999", "bench-password-1", is_staff=True,
                                     name="Operator", phone_verified=True)  # fmt: skip
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(staff)
    client.get(f"/admin/?days={days}")  # warm: templates, the first connection
    times = []
    for _ in range(repeat):
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(f"/admin/?days={days}")
            times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"the dashboard answered {response.status_code}")
    slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]
    print(
        f"days={days:>3}: median {statistics.median(times) * 1000:6.0f} ms, "
        f"best {min(times) * 1000:6.0f} ms, {len(queries)} queries; slowest: "
        + ", ".join(f"{float(q['time']) * 1000:.0f} ms {q['sql'][:48]!r}" for q in slowest)
    )
    staff.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    print(f"Machine: {machine()}")
    recreate_database()
    migrate()
    setup_django()
    from django.db import connection

    from events.models import Event
    from invoices.models import Invoice

    started = time.perf_counter()
    seed(options.invoices)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(
        f"seeded {Invoice.objects.count():,} invoices and {Event.objects.count():,} events"
        f" in {time.perf_counter() - started:.0f} s"
    )
    for days in (7, 30, 90, 365):
        render(days, options.repeat)


if __name__ == "__main__":
    main()
