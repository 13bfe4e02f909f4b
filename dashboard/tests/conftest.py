"""
A small business, made through the real services at injected times, that the dashboard's tests
read: every figure is known by hand (see ``Business``) and checked against the rows too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.credit import credit_top_up
from accounts.models import User
from accounts.tests.factories import UserFactory
from invoices import billing
from plans.models import Plan
from subscriptions.models import Subscription

# Noon, so that "n days ago" is never near midnight in UTC or Dhaka (UTC+6).
NOW = datetime(2021, 12, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
STAFF_PASSWORD = "operator-secret-9"


def ago(days: int) -> datetime:
    return NOW - days * DAY


def top_up(user: User, amount: str, at: datetime) -> None:
    credit_top_up(user_id=user.pk, amount=Decimal(amount), now=at)


def buy(user: User, plan: Plan, at: datetime) -> Subscription:
    return billing.subscription_purchase(user_id=user.pk, plan_id=plan.pk, now=at)


@dataclass
class Business:
    """
    Bronze 500 / 30 days, Gold 1200 / 30 days (cancellable), Weekly 150 / 7 days.

    - amina: tops up 2000 (day -40), buys Bronze (-40), renewed and paid (-10). Active.
    - bashir: tops up 500 (-20), buys Bronze (-20), pauses (-5). Paused.
    - chitra: tops up 1200 (-25), buys Gold (-25), cancels (-3). Cancelled.
    - dipu: tops up 500 (-35), buys Bronze (-35); the renewal (-5) finds no credit: suspended;
      tops up 500 (-2): paid and resumed. Active.
    - emon: tops up 500 (-27), buys Bronze (-27): renews at +3 with no credit. At risk.
    - farid: tops up 300 (-6), buys Weekly (-6): 150 left, renews at +1 (covered), then at +8,
      past the 7 days looked at. A candidate the forecast clears.

    In the 30 days up to NOW: paid 500 (bashir -20), 1200 (chitra -25), 500 (emon -27),
    150 (farid -6), 500 (amina -10), 500 (dipu -2) = 3350; top-ups 500 + 1200 + 500 + 300 + 500
    = 3000 (amina's and dipu's first are older).
    """

    bronze: Plan
    gold: Plan
    weekly: Plan
    amina: User
    bashir: User
    chitra: User
    dipu: User
    emon: User
    farid: User


@pytest.fixture
def business(db) -> Business:
    bronze = Plan.objects.create(name="Globalnet Bronze", amount=Decimal("500.00"))
    gold = Plan.objects.create(
        name="Globalnet Gold", amount=Decimal("1200.00"), is_cancellable=True
    )
    weekly = Plan.objects.create(
        name="Globalnet Weekly", amount=Decimal("150.00"), payment_cycle=7, total_valid_months=6
    )
    names = ("Amina", "Bashir", "Chitra", "Dipu", "Emon", "Farid")
    amina, bashir, chitra, dipu, emon, farid = (UserFactory(name=name) for name in names)

    top_up(amina, "2000", ago(40))
    buy(amina, bronze, ago(40))
    top_up(dipu, "500", ago(35))
    buy(dipu, bronze, ago(35))
    top_up(emon, "500", ago(27))
    buy(emon, bronze, ago(27))
    top_up(chitra, "1200", ago(25))
    buy(chitra, gold, ago(25))
    top_up(bashir, "500", ago(20))
    bashir_bronze = buy(bashir, bronze, ago(20))
    billing.bill_due(now=ago(10))  # amina's renewal, paid
    top_up(farid, "300", ago(6))
    buy(farid, weekly, ago(6))
    billing.bill_due(now=ago(5))  # dipu's renewal: no credit, suspended
    billing.subscription_pause(user_id=bashir.pk, subscription_id=bashir_bronze.pk, now=ago(5))
    gold_sub = Subscription.objects.get(user=chitra)
    billing.subscription_cancel(user_id=chitra.pk, subscription_id=gold_sub.pk, now=ago(3))
    top_up(dipu, "500", ago(2))  # settles the suspended renewal: resumed
    billing.bill_due(now=NOW)  # nothing is left due
    return Business(bronze, gold, weekly, amina, bashir, chitra, dipu, emon, farid)


@pytest.fixture
def staff(db) -> User:
    """An operator who is staff but not a superuser: the dashboard is for every operator."""
    return UserFactory(name="Operator", is_staff=True, password=STAFF_PASSWORD)
