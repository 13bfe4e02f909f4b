"""The billing engine's answers to events from lower apps."""

from datetime import datetime
from typing import Any

from django.dispatch import receiver

from accounts.signals import credit_added

from .billing import subscriptions_settle


@receiver(credit_added, dispatch_uid="invoices.settle_after_credit_added")
def settle_after_credit_added(sender: Any, user_id: int, now: datetime, **kwargs: Any) -> None:
    subscriptions_settle(user_id=user_id, now=now)
