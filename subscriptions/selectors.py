"""Reads of subscriptions: a customer only ever sees their own."""

from django.db.models import QuerySet

from .models import PlanChange, Subscription


def subscription_list(*, user_id: int) -> QuerySet[Subscription]:
    return Subscription.objects.filter(user_id=user_id).order_by("-created_at", "-id")


def plan_change_list(*, user_id: int, subscription_id: int) -> QuerySet[PlanChange]:
    """The subscription's changes of plan, newest first (none if it isn't the customer's)."""
    return PlanChange.objects.filter(
        subscription_id=subscription_id, subscription__user_id=user_id
    ).order_by("-requested_at", "-id")
