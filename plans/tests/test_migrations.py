"""The migration that adds the plan limits copes with plans that break them."""

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import connection

from conftest import migrate
from plans.models import Plan

BEFORE = [("plans", "0001_initial")]
AFTER = [("plans", "0002_plan_limits")]


@pytest.fixture
def before_limits(transactional_db) -> Iterator[type[Plan]]:
    """The Plan model as it was before the limits; the schema is back to the latest after."""
    executor = migrate(BEFORE)
    try:
        yield executor.loader.project_state(BEFORE).apps.get_model("plans", "Plan")
    finally:
        migrate(executor.loader.graph.leaf_nodes())


def test_out_of_range_plans_are_archived_and_brought_within_the_limits(before_limits, capsys):
    old = before_limits
    fine = old.objects.create(
        name="Fine", amount="10.00", payment_cycle=3660, total_valid_months=100
    )
    huge_cycle = old.objects.create(name="Huge cycle", amount="10.00", payment_cycle=10**9)
    too_long = old.objects.create(
        name="Too long", amount="10.00", payment_cycle=3660, total_valid_months=1200
    )
    many_cycles = old.objects.create(
        name="Many", amount="10.00", payment_cycle=1, total_valid_months=5000
    )
    archived = old.objects.create(
        name="Archived", amount="10.00", total_valid_months=10**6, archived_at="2026-01-01T00:00Z"
    )
    if connection.vendor == "sqlite":
        # PostgreSQL's numeric(12, 2) column can't hold it; SQLite's can.
        with connection.cursor() as cursor:
            cursor.execute("UPDATE plans_plan SET amount = 1e15 WHERE id = %s", [many_cycles.pk])

    migrate(AFTER)

    plans = {plan.name: plan for plan in Plan.objects.all()}
    terms = {name: (p.payment_cycle, p.total_valid_months) for name, p in plans.items()}
    assert terms == {
        "Fine": (3660, 100),
        "Huge cycle": (3660, 12),
        "Too long": (3660, 100),
        "Many": (1, 1200),
        "Archived": (30, 1200),
    }
    assert {name for name, plan in plans.items() if plan.is_archived} == {
        "Huge cycle",
        "Too long",
        "Many",
        "Archived",
    }
    assert plans["Archived"].archived_at.isoformat() == "2026-01-01T00:00:00+00:00"
    assert all(plan.amount <= Decimal("9999999999.99") for plan in plans.values())
    report = capsys.readouterr().out
    for plan in (huge_cycle, too_long, many_cycles, archived):
        assert f"plan {plan.pk} ({plan.name})" in report
    assert f"plan {fine.pk} " not in report
    for plan in Plan.objects.all():
        plan.full_clean()
