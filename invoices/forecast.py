"""
The credit forecast: every charge billing will make in the coming days if nothing changes (no
top-up, pause or cancellation), found by running the engine's own rules
(:func:`invoices.billing.boundaries_process`) on copies of the customer's subscriptions held in
memory, with books that only count. Nothing is written or locked; two queries whatever the
number of subscriptions (three when a change of plan is scheduled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings

from accounts.models import User
from subscriptions.models import PlanChange, Subscription

from .billing import LIVE, BillingReport, boundaries_process


@dataclass(frozen=True)
class Charge:
    """One invoice billing will issue: paid from credit if ``covered``, else left unpaid (and the
    subscription suspended)."""

    at: datetime
    subscription_id: int
    plan_name: str
    amount: Decimal
    balance_after: Decimal
    covered: bool


@dataclass(frozen=True)
class Forecast:
    balance: Decimal
    # The first charge the credit will not cover; None if it covers every one in the window.
    covered_until: datetime | None
    charges: list[Charge] = field(default_factory=list)


class _DryRun:
    """Books that charge a balance held in memory and record the charges, nothing else."""

    def __init__(self, balance: Decimal, scheduled: dict[int, PlanChange]) -> None:
        self.balance = balance
        self.charges: list[Charge] = []
        self.scheduled = scheduled

    def charge(self, subscription: Subscription, index: int, *, at: datetime) -> bool:
        amount = subscription.plan_amount
        covered = self.balance >= amount  # as accounts.credit refuses a negative balance
        if covered:
            self.balance -= amount
        self.charges.append(
            Charge(
                at=at,
                subscription_id=subscription.pk,
                plan_name=subscription.plan_name,
                amount=amount,
                balance_after=self.balance,
                covered=covered,
            )
        )
        return covered

    def void_unpaid(self, subscription: Subscription, *, at: datetime) -> int:
        return 0

    def subscription_event(self, type: str, subscription: Subscription, *, at: datetime) -> None:
        pass

    def plan_change_scheduled(self, subscription: Subscription) -> PlanChange:
        return self.scheduled[subscription.pk]

    def plan_change_applied(
        self, change: PlanChange, subscription: Subscription, *, at: datetime
    ) -> None:
        pass


def credit_forecast(*, user_id: int, now: datetime, days: int) -> Forecast:
    """The charges billing will make by ``now + days`` if nothing changes, in the order it makes
    them (boundaries already passed but not yet billed first)."""
    balance = User.objects.values_list("credit", flat=True).get(pk=user_id)
    subscriptions = list(
        Subscription.objects.filter(
            user_id=user_id, status__in=LIVE, next_boundary_at__isnull=False
        ).order_by("id")
    )
    changing = [s.pk for s in subscriptions if s.scheduled_plan_id is not None]
    scheduled = {}
    if changing:
        pending = PlanChange.objects.filter(
            subscription__in=changing, status=PlanChange.Status.SCHEDULED
        )
        scheduled = {change.subscription_id: change for change in pending}
    books = _DryRun(balance, scheduled)
    until = now + timedelta(seconds=days * settings.BILLING_DAY_SECONDS)  # billing days
    boundaries_process(subscriptions, until, BillingReport(), books)
    short = next((charge.at for charge in books.charges if not charge.covered), None)
    return Forecast(balance=balance, covered_until=short, charges=books.charges)
