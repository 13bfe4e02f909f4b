"""
Changes of plan under real concurrency (threads, PostgreSQL row locks).

Every change of plan locks the customer's row first (as purchases and billing runs do), so two
requests for one customer never interleave: they apply one after the other, each seeing what the
one before did. What must hold whatever the order: the books balance, each period is invoiced
once, and the outcome is one of the orders the requests could have run in.
"""

import itertools
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.models import CreditTransaction
from accounts.tests.factories import UserFactory
from conftest import ApiClient, at_once
from core.exceptions import ApplicationError
from invoices import billing
from invoices.models import Invoice
from plans.models import Plan
from subscriptions.models import PlanChange, Subscription

from .conftest import START, assert_books_balance, balance, top_up

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DAY = timedelta(days=1)
PERIOD = 30 * DAY


def bronze() -> Plan:
    return Plan.objects.create(name="Bronze", amount=Decimal("500.00"), is_cancellable=True)


def attempt(service, **kwargs):
    """Call a billing service; its refusal's code instead of raising it."""
    try:
        return service(**kwargs)
    except ApplicationError as refusal:
        return refusal.code


def periods(subscription: Subscription) -> list[tuple[int, int, str, str]]:
    return list(
        subscription.invoices.order_by("period_index").values_list(
            "period_index", "plan_id", "amount", "status"
        )
    )


@pytest.mark.parametrize("racers", [2, 4])
def test_concurrent_changes_now_apply_one_after_the_other(racers):
    customer = UserFactory()
    top_up(customer, "10000", now=START)
    subscription = billing.subscription_purchase(
        user_id=customer.pk, plan_id=bronze().pk, now=START
    )
    targets = [
        Plan.objects.create(name=f"Plan {n}", amount=Decimal(f"{100 * (n + 1)}.50"))
        for n in range(racers)
    ]
    moment = START + 10 * DAY  # 20 of 30 days unused: 333.33 back

    def change(plan):
        return lambda: attempt(
            billing.subscription_plan_change,
            user_id=customer.pk,
            subscription_id=subscription.pk,
            plan_id=plan.pk,
            timing="now",
            now=moment,
        )

    outcomes = at_once(*[change(plan) for plan in targets])

    # None is refused: each applies in turn, on the plan the one before left.
    assert all(isinstance(outcome, tuple) for outcome in outcomes), outcomes
    changes = list(PlanChange.objects.filter(subscription=subscription).order_by("pk"))
    assert [c.status for c in changes] == ["applied"] * racers
    assert changes[0].from_plan_id == subscription.plan_id
    for before, after in itertools.pairwise(changes):
        assert after.from_plan_id == before.plan_id
        assert after.first_period_index == before.first_period_index + 1
        # At the same instant: the whole period the one before just paid comes back.
        assert after.credit_back == before.plan_amount
    assert changes[0].credit_back == Decimal("333.33")
    assert sorted(c.plan_id for c in changes) == sorted(p.pk for p in targets)
    subscription.refresh_from_db()
    last = changes[-1]
    assert (subscription.plan_id, subscription.current_period_index) == (last.plan_id, racers)
    assert subscription.next_billing_at == moment + PERIOD
    # One invoice per period, each for the plan of its term, each paid.
    assert periods(subscription) == [(0, changes[0].from_plan_id, Decimal("500.00"), "paid")] + [
        (c.first_period_index, c.plan_id, c.plan_amount, "paid") for c in changes
    ]
    # Whatever the order: 10000 - 500 + 333.33, and only the last plan's period is kept paid.
    assert balance(customer) == Decimal("10000") - Decimal("500") + Decimal("333.33") - (
        last.plan_amount
    )
    assert (
        CreditTransaction.objects.filter(user=customer, kind="proration_credit").count() == racers
    )
    assert_books_balance(customer)


def test_a_change_now_racing_bill_due_at_the_boundary_bills_the_boundary_once():
    customer = UserFactory()
    top_up(customer, "3000", now=START)
    subscription = billing.subscription_purchase(
        user_id=customer.pk, plan_id=bronze().pk, now=START
    )
    gold = Plan.objects.create(name="Gold", amount=Decimal("1200.00"))
    boundary = START + PERIOD

    outcomes = at_once(
        lambda: billing.bill_due(now=boundary),
        lambda: attempt(
            billing.subscription_plan_change,
            user_id=customer.pk,
            subscription_id=subscription.pk,
            plan_id=gold.pk,
            timing="now",
            now=boundary,
        ),
    )

    assert outcomes[0].failed == 0
    assert isinstance(outcomes[1], tuple), outcomes[1]
    # Either order ends the same: period 1 billed once (by whichever ran first), then the
    # change credits it back whole (unused from its first second) and starts Gold's period 2.
    subscription.refresh_from_db()
    bronze_id = subscription.plan_changes.get().from_plan_id
    assert periods(subscription) == [
        (0, bronze_id, Decimal("500.00"), "paid"),
        (1, bronze_id, Decimal("500.00"), "paid"),
        (2, gold.pk, Decimal("1200.00"), "paid"),
    ]
    change = subscription.plan_changes.get()
    assert (change.status, change.credit_back, change.first_period_index) == (
        "applied",
        Decimal("500.00"),
        2,
    )
    assert (subscription.plan_id, subscription.term_start_at) == (gold.pk, boundary)
    assert subscription.next_boundary_at == boundary + PERIOD
    assert balance(customer) == Decimal("3000") - 500 - 500 + 500 - 1200
    # A later run has nothing left to bill at that moment.
    assert billing.bill_due(now=boundary).invoices_paid == 0
    assert_books_balance(customer)


def test_a_change_at_period_end_racing_the_purchase_of_its_plan_lets_one_through():
    customer = UserFactory()
    top_up(customer, "5000", now=START)
    subscription = billing.subscription_purchase(
        user_id=customer.pk, plan_id=bronze().pk, now=START
    )
    gold = Plan.objects.create(name="Gold", amount=Decimal("1200.00"))
    moment = START + 3 * DAY

    outcomes = at_once(
        lambda: attempt(
            billing.subscription_plan_change,
            user_id=customer.pk,
            subscription_id=subscription.pk,
            plan_id=gold.pk,
            timing="period_end",
            now=moment,
        ),
        lambda: attempt(
            billing.subscription_purchase, user_id=customer.pk, plan_id=gold.pk, now=moment
        ),
    )

    refused = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert refused == ["already_subscribed"], outcomes
    subscription.refresh_from_db()
    gold_subscriptions = Subscription.objects.filter(user=customer, plan=gold)
    if outcomes[0] == "already_subscribed":  # the purchase won
        assert subscription.scheduled_plan_id is None
        assert not PlanChange.objects.exists()
        assert gold_subscriptions.count() == 1
        assert balance(customer) == Decimal("5000") - 500 - 1200
    else:  # the change won: Gold is taken from the next period start
        assert subscription.scheduled_plan_id == gold.pk
        assert not gold_subscriptions.exists()
        assert balance(customer) == Decimal("5000") - 500
    # Either way, one subscription on Gold after the boundary, never two.
    billing.bill_due(now=START + PERIOD)
    live_on_gold = Subscription.objects.filter(user=customer, plan=gold, status="active")
    assert live_on_gold.count() == 1
    assert_books_balance(customer)


def test_concurrent_changes_with_one_idempotency_key_change_once(time_machine):
    time_machine.move_to(START, tick=False)
    customer = UserFactory()
    top_up(customer, "5000")
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze().pk)
    gold = Plan.objects.create(name="Gold", amount=Decimal("1200.00"))
    time_machine.move_to(START + 10 * DAY, tick=False)

    def change():
        client = ApiClient()
        client.force_authenticate(customer)
        response = client.post(
            f"/api/v1/subscriptions/{subscription.pk}/change-plan/",
            {"plan": gold.pk, "at": "now"},
            HTTP_IDEMPOTENCY_KEY="move-to-gold",
        )
        return response.status_code, response.json(), response.get("Idempotent-Replayed")

    results = at_once(*[change for _ in range(6)])

    assert {status for status, _, _ in results} == {200}
    bodies = [body for _, body, _ in results]
    assert all(body == bodies[0] for body in bodies)
    assert Counter(replayed for _, _, replayed in results) == {"true": 5, None: 1}
    assert PlanChange.objects.filter(subscription=subscription).count() == 1
    assert Invoice.objects.filter(subscription=subscription, plan=gold).count() == 1
    assert CreditTransaction.objects.filter(user=customer, kind="proration_credit").count() == 1
    assert balance(customer) == Decimal("5000") - 500 + Decimal("333.33") - 1200
    assert_books_balance(customer)
