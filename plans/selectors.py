"""Reads of the plan catalogue."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User

from .models import Plan


def plan_list(*, user: User, archived: bool = False) -> QuerySet[Plan]:
    """Purchasable plans; superusers may ask for the archived ones instead."""
    if archived and user.is_superuser:
        return Plan.objects.filter(archived_at__isnull=False)
    return Plan.objects.purchasable()


def plan_visible_to(*, user: User) -> QuerySet[Plan]:
    """Plans ``user`` may open by id: superusers see archived ones too, to restore them."""
    return Plan.objects.all() if user.is_superuser else Plan.objects.purchasable()
