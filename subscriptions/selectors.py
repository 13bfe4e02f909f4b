"""Reads of subscriptions: a customer only ever sees their own."""

from django.db.models import QuerySet

from .models import Subscription


def subscription_list(*, user_id: int) -> QuerySet[Subscription]:
    return Subscription.objects.filter(user_id=user_id).order_by("-created_at", "-id")
