"""A plan's limits hold in the database, and a plan at the limits can be bought."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.credit import credit_top_up
from accounts.tests.factories import UserFactory
from conftest import ApiClient
from core.db import violates
from plans.models import MAX_CYCLE_DAYS, MAX_CYCLES, MAX_TERM_DAYS, Plan

pytestmark = pytest.mark.django_db

PURCHASE = "/api/v1/purchase-plan/"


@pytest.mark.parametrize(
    ("terms", "constraint"),
    [
        ({"payment_cycle": MAX_CYCLE_DAYS + 1, "total_valid_months": 1}, "cycle_within_limit"),
        ({"payment_cycle": 1, "total_valid_months": MAX_CYCLES + 1}, "cycles_within_limit"),
        ({"payment_cycle": MAX_CYCLE_DAYS, "total_valid_months": 101}, "term_within_limit"),
        ({"payment_cycle": 306, "total_valid_months": MAX_CYCLES}, "term_within_limit"),
    ],
)
def test_the_database_refuses_a_plan_out_of_range(plan, terms, constraint):
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        Plan.objects.filter(pk=plan.pk).update(**terms)

    assert violates(refused.value, Plan, f"plans_plan_{constraint}")
    plan.refresh_from_db()
    assert (plan.payment_cycle, plan.total_valid_months) == (30, 12)


def test_the_database_refuses_a_term_whose_product_overflows_32_bits(plan):
    # Each factor fits a PostgreSQL integer, their product does not: still a constraint error.
    with pytest.raises(IntegrityError), transaction.atomic():
        Plan.objects.filter(pk=plan.pk).update(
            payment_cycle=2**31 - 1, total_valid_months=2**31 - 1
        )


def test_the_database_refuses_an_amount_over_the_money_limit(plan):
    # PostgreSQL's numeric(12, 2) refuses it already (DataError); SQLite needs the constraint.
    with pytest.raises((IntegrityError, transaction.DatabaseError)), transaction.atomic():
        Plan.objects.filter(pk=plan.pk).update(amount=Decimal("10000000000.00"))

    plan.refresh_from_db()
    assert plan.amount == Decimal("500.00")


@pytest.mark.parametrize(
    ("cycle", "cycles"),
    [
        (MAX_CYCLE_DAYS, MAX_TERM_DAYS // MAX_CYCLE_DAYS),
        (MAX_TERM_DAYS // MAX_CYCLES, MAX_CYCLES),
    ],
)
@pytest.mark.parametrize("year", [2026, 8900])
def test_a_plan_at_the_limits_can_be_bought(time_machine, cycle, cycles, year):
    now = datetime(year, 11, 23, 12, 0, tzinfo=UTC)
    time_machine.move_to(now, tick=False)
    plan = Plan.objects.create(
        name="Longest",
        amount=Decimal("9999999999.99"),
        payment_cycle=cycle,
        total_valid_months=cycles,
    )
    plan.full_clean()
    customer = UserFactory()
    credit_top_up(user_id=customer.pk, amount=plan.amount)
    client = ApiClient()
    client.force_authenticate(customer)

    response = client.post(PURCHASE, {"plan": plan.pk})

    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["end_date"] == (now + timedelta(days=cycle * cycles)).date().isoformat()
    assert data["next_billing_at"].startswith((now + timedelta(days=cycle)).date().isoformat())
    assert client.get("/api/v1/credit/").json()["balance"] == "0.00"
