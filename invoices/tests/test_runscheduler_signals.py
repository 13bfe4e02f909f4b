"""
``manage.py runscheduler`` stops cleanly on SIGTERM, whatever it is doing: starting, leading,
or with jobs running and due. It used to log ``RuntimeError: cannot schedule new futures after
shutdown`` when APScheduler's main loop woke up while the executor was being shut down.

The processes run on a SQLite database of their own, with 1-second billing periods, so jobs
are running and due at every moment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
CUSTOMERS = 2
PLANS = 25  # subscriptions per customer: each job bills all of its customer's

SEED = f"""
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.credit import credit_top_up
from accounts.models import User
from invoices.billing import subscription_purchase
from plans.models import Plan

plans = [
    Plan.objects.create(name=f"Second {{n}}", amount=Decimal("0.01"), payment_cycle=1,
                        total_valid_months=1200)
    for n in range({PLANS})
]
now = timezone.now()
for c in range({CUSTOMERS}):
    user = User.objects.create_user(f"+8801700{{c:06d}}", None, name="C", phone_verified=True)
    credit_top_up(user_id=user.pk, amount=Decimal("100000"))
    for n, plan in enumerate(plans):
        subscription_purchase(
            user_id=user.pk, plan_id=plan.pk, now=now - timedelta(seconds=5 + n / {PLANS})
        )
"""


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    directory = tmp_path_factory.mktemp("runscheduler")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "BILLING_DAY_SECONDS": "1",
        "SCHEDULER_AUTOSTART": "false",
        "SCHEDULER_RECONCILE_SECONDS": "1",
        "SMS_BACKEND": "locmem",
        "LOG_LEVEL": "INFO",
    }
    for command in (["migrate", "-v0"], ["shell", "-c", SEED]):
        subprocess.run(  # noqa: S603
            [sys.executable, MANAGE, *command],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    return env


class Scheduler:
    """A ``runscheduler`` process whose log is read as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, MANAGE, "runscheduler"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.output()}"
            time.sleep(0.01)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=120)
        self._reader.join(timeout=10)
        return code

    def output(self) -> str:
        return "".join(self.lines)


@pytest.mark.parametrize(
    ("moment", "delay"),
    [
        ("Invoice scheduler starting", 0.0),  # before it leads: catching up
        ("Scheduler leading", 0.0),
        ("Scheduler leading", 0.7),  # jobs running and due
    ],
)
def test_sigterm_stops_the_scheduler_cleanly(environment, moment, delay):
    scheduler = Scheduler(environment)
    scheduler.wait_for(moment)
    if delay:
        scheduler.wait_for("Billing job for subscription")
        time.sleep(delay)  # the moment itself is what is tested

    code = scheduler.terminate()

    output = scheduler.output()
    assert code == 0, output
    assert "Traceback" not in output, output
    assert "cannot schedule new futures" not in output, output
    assert "Invoice scheduler stopped." in output
