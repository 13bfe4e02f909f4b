"""Changes to the plan catalogue."""

from decimal import Decimal

from django.db import transaction

from .models import Plan

# Seed 000's catalogue ("Sliver" in the seed is a typo for Silver).
DEMO_PLANS = [
    {"name": "Globalnet Bronze", "amount": Decimal("500.00"), "is_cancellable": False},
    {"name": "Globalnet Silver", "amount": Decimal("750.00"), "is_cancellable": False},
    {"name": "Globalnet Gold", "amount": Decimal("1200.00"), "is_cancellable": True},
]


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
