"""
A demo business for the dashboard: customers who top up, buy the demo plans, pause, cancel and
run short of credit over the past days, all through the real services at the times they
happened (so invoices, the ledger and the events outbox agree), billed day by day as the
scheduler would have. Deterministic for a given seed. For development and the browser test.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from accounts.credit import credit_top_up
from accounts.models import User
from core.exceptions import ApplicationError
from invoices import billing
from plans.services import plans_load_demo
from subscriptions.models import Subscription

FIRST_NAMES = (
    "Amina", "Bashir", "Chitra", "Dipu", "Emon", "Farid", "Gita", "Habib", "Ikram", "Jui",
    "Kamal", "Lina", "Mitu", "Nasir", "Opu", "Priya", "Rafi", "Sadia", "Tanvir", "Urmi",
)  # fmt: skip
LAST_NAMES = ("Khan", "Rahman", "Das", "Hossain", "Akter", "Roy", "Islam", "Sarkar")
TOP_UPS = (Decimal("100"), Decimal("200"), Decimal("300"), Decimal("500"), Decimal("1000"))


@dataclass(frozen=True)
class DemoBusiness:
    customers: int
    days: int


def _customer(number: int, rng: random.Random) -> User:
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    # No password: nobody logs in as them.
    return User.objects.create_user(f"+88019{number:08d}", None, phone_verified=True, name=name)


def demo_business_load(
    *, now: datetime, customers: int = 40, days: int = 90, seed: int = 14
) -> DemoBusiness:
    """``customers`` customers joining over the ``days`` days before ``now``, then living: each
    day some top up, pause, resume or cancel, and billing runs."""
    rng = random.Random(seed)  # noqa: S311 (a demo, not a secret)
    plans = [plan for plan, _ in plans_load_demo()]
    start = now - timedelta(days=days)
    joins = sorted(rng.randrange(days) for _ in range(customers))
    people: list[User] = []
    offset = User.objects.count()
    for day in range(days + 1):
        # Never after now: the last day's life happens before it.
        moment = min(start + timedelta(days=day, hours=rng.randrange(8, 20)), now)
        for _ in range(joins.count(day)):
            user = _customer(offset + len(people), rng)
            people.append(user)
            plan = rng.choice(plans)
            # Enough for the first period and a little more: the renewals will need top-ups.
            credit_top_up(user_id=user.pk, amount=plan.amount + rng.choice(TOP_UPS), now=moment)
            _try(billing.subscription_purchase, user_id=user.pk, plan_id=plan.pk, now=moment)
        for user in rng.sample(people, k=min(len(people), 3)):
            _live_a_day(user, rng, moment)
        billing.bill_due(now=min(moment + timedelta(hours=1), now))
    billing.bill_due(now=now)
    return DemoBusiness(customers=customers, days=days)


def _live_a_day(user: User, rng: random.Random, moment: datetime) -> None:
    live = list(
        Subscription.objects.filter(user=user, status__in=Subscription.LIVE_STATUSES).order_by("id")
    )
    roll = rng.random()
    suspended = [s for s in live if s.status == Subscription.Status.SUSPENDED]
    if suspended and roll < 0.4:
        # Most customers cut off top up enough to get the service back.
        amount = suspended[0].plan_amount + rng.choice(TOP_UPS)
        credit_top_up(user_id=user.pk, amount=amount, now=moment)
    elif roll < 0.25:
        credit_top_up(user_id=user.pk, amount=rng.choice(TOP_UPS), now=moment)
    elif roll < 0.3 and live:
        subscription = rng.choice(live)
        if subscription.status == Subscription.Status.PAUSED:
            _try(billing.subscription_reactivate, user_id=user.pk,
                 subscription_id=subscription.pk, now=moment)  # fmt: skip
        else:
            _try(billing.subscription_pause, user_id=user.pk, subscription_id=subscription.pk,
                 now=moment)  # fmt: skip
    elif roll < 0.36 and live:
        subscription = rng.choice(live)
        if subscription.plan_cancellable:
            _try(billing.subscription_cancel, user_id=user.pk, subscription_id=subscription.pk,
                 now=moment)  # fmt: skip


def _try(service, **kwargs) -> None:
    # Short of credit, already subscribed…: what a real customer would meet too.
    with contextlib.suppress(ApplicationError):
        service(**kwargs)
