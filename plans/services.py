"""Changes to the plan catalogue."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from .models import Plan

# Seed 000's catalogue ("Sliver" in the seed is a typo for Silver).
DEMO_PLANS = [
    {"name": "Globalnet Bronze", "amount": Decimal("500.00"), "is_cancellable": False},
    {"name": "Globalnet Silver", "amount": Decimal("750.00"), "is_cancellable": False},
    {"name": "Globalnet Gold", "amount": Decimal("1200.00"), "is_cancellable": True},
]

EDITABLE_FIELDS = {"name", "amount", "payment_cycle", "total_valid_months", "is_cancellable"}


@transaction.atomic
def plans_load_demo() -> list[tuple[Plan, bool]]:
    """Create the demo plans that are missing (by name); existing plans are left as they are."""
    results = []
    for terms in DEMO_PLANS:
        plan, created = Plan.objects.get_or_create(
            name=terms["name"],
            defaults={**terms, "payment_cycle": 30, "total_valid_months": 12},
        )
        results.append((plan, created))
    return results


def plan_create(**terms: Any) -> Plan:
    """Add a plan to the catalogue; unspecified terms take seed 000's defaults."""
    plan = Plan(**{name: value for name, value in terms.items() if name in EDITABLE_FIELDS})
    plan.full_clean()
    plan.save()
    return plan


@transaction.atomic
def plan_update(*, plan: Plan, now: datetime | None = None, **changes: Any) -> Plan:
    """
    Change a plan's terms (existing subscriptions keep the terms they bought). ``is_archived``
    archives or restores it.
    """
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    fields = []
    for name, value in changes.items():
        if name in EDITABLE_FIELDS:
            setattr(plan, name, value)
            fields.append(name)
    if "is_archived" in changes and changes["is_archived"] != plan.is_archived:
        plan.archived_at = (now or timezone.now()) if changes["is_archived"] else None
        fields.append("archived_at")
    if fields:
        plan.full_clean()
        plan.save(update_fields=[*fields, "updated_at"])
    return plan


def plan_archive(*, plan: Plan, now: datetime | None = None) -> Plan:
    """Take a plan out of the catalogue: no longer listed or purchasable, kept for its history."""
    return plan_update(plan=plan, now=now, is_archived=True)


def plan_restore(*, plan: Plan) -> Plan:
    return plan_update(plan=plan, is_archived=False)
