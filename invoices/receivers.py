"""The billing engine's answers to events from lower apps."""

from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import User
from accounts.signals import credit_added
from subscriptions.models import Subscription

from .billing import UNPAID, _due, subscriptions_settle
from .models import BillingFailure


def _settlement_needed(*, user_id: int, now: datetime) -> bool:
    """
    Whether settling would do anything for the customer: a suspended or past-due subscription
    to pay, a boundary or grace period's end passed by ``now`` to catch up, or a recorded
    billing failure to clear. One indexed query; most top-ups find nothing and skip the
    settlement's transaction (lock, catch-up, settle, failure clean-up: five round trips).
    """
    pending = Subscription.objects.filter(Q(status__in=UNPAID) | _due(now), user_id=OuterRef("pk"))
    failed = BillingFailure.objects.filter(user_id=OuterRef("pk"))
    return User.objects.filter(Exists(pending) | Exists(failed), pk=user_id).exists()


@receiver(credit_added, dispatch_uid="invoices.settle_after_credit_added")
def settle_after_credit_added(sender: Any, user_id: int, now: datetime, **kwargs: Any) -> None:
    moment = now or timezone.now()
    if _settlement_needed(user_id=user_id, now=moment):
        subscriptions_settle(user_id=user_id, now=moment)
