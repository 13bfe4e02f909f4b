"""The billing engine's answers to events from lower apps."""

from datetime import datetime
from typing import Any

from django.dispatch import receiver
from django.utils import timezone

from accounts.signals import credit_added

from .billing import customer_needs_settling, subscriptions_settle


@receiver(credit_added, dispatch_uid="invoices.settle_after_credit_added")
def settle_after_credit_added(sender: Any, user_id: int, now: datetime, **kwargs: Any) -> None:
    moment = now or timezone.now()
    # Most top-ups find nothing to settle: one indexed query instead of the settlement's five.
    if customer_needs_settling(user_id=user_id, now=moment):
        subscriptions_settle(user_id=user_id, now=moment)
