"""
Real Celery workers (``celery -A config worker`` processes) on the test's PostgreSQL database and
the real Redis server: the scheduler's sweep enqueues the billing of many customers, one worker
dies by SIGKILL in the middle (the whole process group, as when its machine goes), and still
every period is billed exactly once and none is lost: what the dead worker held is delivered
again to the other (at least once), a task Redis lost with the worker (taken off the queue, not
yet recorded as delivered) is billed by the next sweep, and the database makes running anything
twice harmless.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import CreditTransaction, User
from invoices import billing, jobs
from invoices.models import Invoice
from plans.models import Plan
from subscriptions.models import Subscription

from .celery_broker import broker
from .conftest import assert_books_balance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BROKER = "redis://127.0.0.1:6379/7"
CUSTOMERS = 80
PERIODS_DUE = 4  # each customer's subscription has periods 1..4 to bill
BATCH = 4  # customers per task: 20 tasks
VISIBILITY_TIMEOUT = 4  # seconds before a dead worker's task is delivered again
TASK = re.compile(r"Task (invoices\.bill_customers)\[([0-9a-f-]+)\] (received|succeeded)")


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """A ``celery -A config worker`` process group whose log is read as it comes."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--hostname", f"{name}@%h", "--concurrency", "2", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the pool's children die with it
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def tasks(self, state: str) -> set[str]:
        return {m[2] for line in list(self.lines) if (m := TASK.search(line)) and m[3] == state}

    def in_flight(self) -> set[str]:
        return self.tasks("received") - self.tasks("succeeded")

    def wait_until_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any("ready." in line for line in list(self.lines)):
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, f"{self.name} not ready:\n{self.output()}"
            time.sleep(0.05)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._reader.join(timeout=5)

    def output(self) -> str:
        return "".join(self.lines)


def broker_holds(client: redis.Redis) -> int:
    """Tasks the broker holds: queued for billing, or delivered and not yet acknowledged."""
    return client.llen("billing") + client.hlen("unacked")


@pytest.fixture
def redis_db():
    client = redis.Redis.from_url(BROKER)
    client.flushdb()  # db 7 is this test's own
    yield client
    client.flushdb()


@pytest.fixture
def start_workers(redis_db):
    """Start worker processes (``names``) on the test database; they are stopped after the test."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "invoices.tests.celery_settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": BROKER,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    started: list[Worker] = []

    def start(*names: str) -> list[Worker]:
        workers = [Worker(name, env) for name in names]
        started.extend(workers)
        for worker in workers:
            worker.wait_until_ready()
        return workers

    yield start
    for worker in started:
        worker.stop()


def seed() -> list[Subscription]:
    """Customers with credit whose daily subscription started ``PERIODS_DUE`` days ago: periods
    1 to ``PERIODS_DUE`` are due (period 0 is taken as paid before, with no invoice)."""
    plan = Plan.objects.create(name="Daily", amount=Decimal("1.00"), payment_cycle=1)
    period = timedelta(days=1)
    start = timezone.now() - PERIODS_DUE * period - timedelta(minutes=1)
    users = User.objects.bulk_create(
        User(phone=f"+8801700{n:06d}", name=f"C{n}", credit=Decimal("100.00"))
        for n in range(CUSTOMERS)
    )
    CreditTransaction.objects.bulk_create(
        CreditTransaction(user=user, amount=100, kind="top_up", balance_after=100, created_at=start)
        for user in users
    )
    return Subscription.objects.bulk_create(
        Subscription(
            user=user,
            plan=plan,
            plan_name=plan.name,
            plan_amount=plan.amount,
            plan_payment_cycle=1,
            plan_months_validity=12,
            plan_cancellable=False,
            period_seconds=int(period.total_seconds()),
            start_at=start,
            term_start_at=start,
            end_at=start + 360 * period,
            next_boundary_at=start + period,
            created_at=start,
        )
        for user in users
    )


def test_a_worker_killed_mid_batch_loses_nothing_and_bills_nothing_twice(
    start_workers, redis_db, settings
):
    subscriptions = seed()
    expected = CUSTOMERS * PERIODS_DUE
    settings.BILLING_TASK_BATCH = BATCH

    with broker(BROKER):
        jobs.sweep()  # the scheduler's job: it enqueues, and bills nothing itself
    assert Invoice.objects.count() == 0
    assert redis_db.llen("billing") == CUSTOMERS // BATCH

    doomed, survivor = start_workers("doomed", "survivor")

    deadline = time.monotonic() + 20
    while not (doomed.tasks("succeeded") and doomed.in_flight()):
        assert time.monotonic() < deadline, doomed.output()
        time.sleep(0.005)
    doomed.kill()
    held = doomed.in_flight()  # received, never reported done: delivered to it, not acknowledged

    # What the dead worker held runs again on the survivor, until the broker holds nothing:
    # no task queued, none delivered and not acknowledged.
    deadline = time.monotonic() + 30
    while not held <= survivor.tasks("succeeded") or broker_holds(redis_db):
        assert survivor.process.poll() is None, survivor.output()
        assert time.monotonic() < deadline, (
            f"{Invoice.objects.count()} of {expected} invoices; {held} held by the dead worker; "
            f"{broker_holds(redis_db)} task(s) still in the broker\n" + survivor.output()
        )
        time.sleep(0.1)
    assert held and held <= survivor.tasks("received")

    # Redis's transport takes a task off the queue (BRPOP) a moment before it records it as
    # delivered and not acknowledged: a worker killed in between loses that task, which no
    # visibility timeout brings back. The sweep is the safety net for that: the scheduler's next
    # one enqueues whoever is still due, and those customers are billed then.
    with broker(BROKER):
        jobs.sweep()
    deadline = time.monotonic() + 30
    while Invoice.objects.count() < expected or broker_holds(redis_db):
        assert survivor.process.poll() is None, survivor.output()
        assert time.monotonic() < deadline, (
            f"{Invoice.objects.count()} of {expected} invoices after the next sweep\n"
            + survivor.output()
        )
        time.sleep(0.1)

    # Every period billed, and nothing billed twice.
    assert Invoice.objects.count() == expected
    for subscription in subscriptions:
        invoices = Invoice.objects.filter(subscription=subscription).order_by("period_index")
        assert [(i.period_index, i.status) for i in invoices] == [
            (index, "paid") for index in range(1, PERIODS_DUE + 1)
        ]
    for user in User.objects.filter(pk__in=[s.user_id for s in subscriptions]):
        assert user.credit == Decimal("100.00") - PERIODS_DUE
        assert_books_balance(user)
    assert billing.bill_due_count() == 0
    assert "Traceback" not in survivor.output(), survivor.output()
