from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from plans.models import Plan

pytestmark = pytest.mark.django_db


def test_demo_plans_are_seed_000s_catalogue():
    call_command("load_demo_plans", stdout=StringIO())

    plans = list(
        Plan.objects.values_list(
            "name", "amount", "payment_cycle", "total_valid_months", "is_cancellable"
        )
    )
    assert plans == [
        ("Globalnet Bronze", Decimal("500.00"), 30, 12, False),
        ("Globalnet Silver", Decimal("750.00"), 30, 12, False),
        ("Globalnet Gold", Decimal("1200.00"), 30, 12, True),
    ]


def test_loading_demo_plans_twice_changes_nothing():
    call_command("load_demo_plans", stdout=StringIO())
    Plan.objects.filter(name="Globalnet Gold").update(amount=Decimal("1500.00"))
    out = StringIO()

    call_command("load_demo_plans", stdout=out)

    assert Plan.objects.count() == 3
    assert Plan.objects.get(name="Globalnet Gold").amount == Decimal("1500.00")
    assert "already there" in out.getvalue()
