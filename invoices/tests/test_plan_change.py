"""Changing a subscription's plan: at once with exact proration, or at the period's end."""

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.models import CreditTransaction
from accounts.tests.factories import UserFactory
from core.exceptions import ApplicationError
from events.models import Event
from invoices import billing
from invoices.forecast import credit_forecast
from plans.models import Plan
from subscriptions.models import PlanChange, Subscription

from .conftest import START, assert_books_balance, balance, top_up

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
PERIOD = 30 * DAY


@pytest.fixture
def weekly(db) -> Plan:
    return Plan.objects.create(
        name="Globalnet Weekly",
        amount=Decimal("99.99"),
        payment_cycle=7,
        total_valid_months=4,
        is_cancellable=True,
    )


def buy(customer, plan, at=START) -> Subscription:
    return billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=at)


def change(customer, subscription, plan, at="now", now=START):
    return billing.subscription_plan_change(
        user_id=customer.pk, subscription_id=subscription.pk, plan_id=plan.pk, timing=at, now=now
    )


def preview(customer, subscription, plan, at="now", now=START):
    return billing.subscription_plan_change_preview(
        user_id=customer.pk, subscription_id=subscription.pk, plan_id=plan.pk, timing=at, now=now
    )


def refresh(subscription) -> Subscription:
    subscription.refresh_from_db()
    return subscription


def event_types(customer, after: int = 0) -> list[str]:
    return list(
        Event.objects.filter(customer=customer, sequence__gt=after)
        .order_by("sequence")
        .values_list("type", flat=True)
    )


def last_sequence(customer) -> int:
    return Event.objects.filter(customer=customer).order_by("-sequence").first().sequence


# --- Now ---------------------------------------------------------------------------------------


def test_upgrade_now_credits_the_unused_part_back_and_starts_the_new_plan(customer, bronze, gold):
    top_up(customer, "2000", now=START)
    subscription = buy(customer, bronze)  # 500.00 for 30 days, paid: balance 1500.00
    seen = last_sequence(customer)
    moment = START + 10 * DAY  # 20 of 30 days unused: 333.33 back

    subscription, plan_change, quote = change(customer, subscription, gold, now=moment)

    assert quote.credit_back == Decimal("333.33") and quote.charge == Decimal("1200.00")
    assert balance(customer) == Decimal("1500.00") + Decimal("333.33") - Decimal("1200.00")
    subscription = refresh(subscription)
    assert subscription.plan_id == gold.pk and subscription.plan_name == "Globalnet Gold"
    assert (subscription.status, subscription.current_period_index) == ("active", 1)
    assert subscription.current_period_start == moment
    assert subscription.next_billing_at == moment + PERIOD
    # The new plan's full term, from the change: 12 periods of 30 days.
    assert subscription.end_at == moment + 12 * PERIOD
    invoice = subscription.invoices.get(period_index=1)
    assert (invoice.plan_id, invoice.amount, invoice.status) == (
        gold.pk,
        Decimal("1200.00"),
        "paid",
    )
    assert (invoice.period_start, invoice.period_end) == (moment, moment + PERIOD)
    assert invoice.plan_change == plan_change and plan_change.credit_back == Decimal("333.33")
    # The old period's invoice is left as it was issued.
    assert subscription.invoices.get(period_index=0).amount == Decimal("500.00")
    lines = list(customer.credit_transactions.order_by("id").values_list("kind", "amount"))
    assert lines[-2:] == [
        ("proration_credit", Decimal("333.33")),
        ("invoice_payment", Decimal("-1200.00")),
    ]
    assert event_types(customer, seen) == [
        "credit.prorated",
        "subscription.plan_changed",
        "invoice.created",
        "invoice.paid",
    ]
    history = list(PlanChange.objects.filter(subscription=subscription))
    assert [(c.status, c.from_plan_id, c.plan_id, c.first_period_index) for c in history] == [
        ("applied", bronze.pk, gold.pk, 1)
    ]
    assert_books_balance(customer)


def test_proration_counts_seconds_and_rounds_to_the_cent(customer, bronze, gold):
    top_up(customer, "2000", now=START)
    subscription = buy(customer, bronze)
    moment = START + PERIOD - timedelta(seconds=1)  # one second unused of 2,592,000

    _, _, quote = change(customer, subscription, gold, now=moment)

    # 500 * 1 / 2,592,000 = 0.000193: less than half a cent.
    assert quote.credit_back == Decimal("0.00")
    assert not customer.credit_transactions.filter(kind="proration_credit").exists()

    other = UserFactory()
    top_up(other, "2000", now=START)
    second = buy(other, bronze)
    _, _, quote = change(other, second, gold, now=START + timedelta(seconds=1))
    # 500 * 2,591,999 / 2,592,000 = 499.99980…
    assert quote.credit_back == Decimal("500.00")


def test_downgrade_now_returns_more_than_it_charges(customer, gold, weekly):
    top_up(customer, "1200", now=START)
    subscription = buy(customer, gold)  # balance 0
    moment = START + 15 * DAY

    _, _, quote = change(customer, subscription, weekly, now=moment)

    assert quote.credit_back == Decimal("600.00")
    assert balance(customer) == Decimal("600.00") - Decimal("99.99")
    subscription = refresh(subscription)
    assert subscription.next_billing_at == moment + 7 * DAY
    assert subscription.end_at == moment + 4 * 7 * DAY
    assert_books_balance(customer)


def test_a_change_the_credit_cannot_pay_is_refused_and_changes_nothing(customer, bronze, gold):
    top_up(customer, "600", now=START)
    subscription = buy(customer, bronze)  # balance 100
    seen = last_sequence(customer)
    lines = CreditTransaction.objects.count()
    moment = START + 10 * DAY

    quote = preview(customer, subscription, gold, now=moment)
    assert not quote.payable and quote.balance_after == Decimal("100.00") + Decimal(
        "333.33"
    ) - Decimal("1200.00")
    with pytest.raises(ApplicationError) as refusal:
        change(customer, subscription, gold, now=moment)

    assert refusal.value.status_code == 402
    assert refusal.value.code == "insufficient_credit"
    assert balance(customer) == Decimal("100.00")
    assert CreditTransaction.objects.count() == lines
    assert refresh(subscription).plan_id == bronze.pk
    assert not PlanChange.objects.exists()
    assert subscription.invoices.count() == 1
    assert event_types(customer, seen) == []


def test_a_past_due_subscription_gets_nothing_back_and_its_unpaid_invoice_is_voided(
    customer, bronze, weekly, settings
):
    settings.BILLING_GRACE_DAYS = 5
    top_up(customer, "500", now=START)
    subscription = buy(customer, bronze)  # balance 0
    billing.bill_due(now=START + PERIOD)
    assert refresh(subscription).status == "past_due"
    top_up(customer, "100", now=START + PERIOD + DAY)  # not enough for bronze's 500

    subscription, _, quote = change(customer, subscription, weekly, now=START + PERIOD + 2 * DAY)

    assert quote.credit_back == Decimal("0.00") and quote.charge == weekly.amount
    assert (subscription.status, subscription.grace_ends_at) == ("active", None)
    assert list(
        subscription.invoices.order_by("period_index").values_list("period_index", "status")
    ) == [(0, "paid"), (1, "void"), (2, "paid")]
    assert balance(customer) == Decimal("100.00") - weekly.amount
    assert_books_balance(customer)


def test_a_paused_subscription_changed_now_is_active_on_the_new_plan(customer, bronze, gold):
    top_up(customer, "2000", now=START)
    subscription = buy(customer, bronze)
    billing.subscription_pause(user_id=customer.pk, subscription_id=subscription.pk, now=START)

    subscription, _, quote = change(customer, subscription, gold, now=START + 6 * DAY)

    assert quote.credit_back == Decimal("400.00")  # 24 of 30 days of the paid period
    assert (subscription.status, subscription.paused_at) == ("active", None)
    assert subscription.next_billing_at == START + 6 * DAY + PERIOD
    assert_books_balance(customer)


# --- At the period's end -----------------------------------------------------------------------


def test_a_change_at_period_end_is_scheduled_then_applied_by_billing(customer, bronze, gold):
    top_up(customer, "2000", now=START)
    subscription = buy(customer, bronze)
    lines = CreditTransaction.objects.count()

    subscription, scheduled, quote = change(
        customer, subscription, gold, at="period_end", now=START + 3 * DAY
    )

    assert (quote.credit_back, quote.charge) == (Decimal("0.00"), Decimal("0.00"))
    assert quote.effective_at == START + PERIOD
    assert (quote.next_billing_at, quote.next_billing_amount) == (START + PERIOD, gold.amount)
    assert CreditTransaction.objects.count() == lines  # no money moves yet
    subscription = refresh(subscription)
    assert subscription.plan_id == bronze.pk  # still on the old plan until the period ends
    assert (subscription.scheduled_plan_id, subscription.scheduled_plan_at) == (
        gold.pk,
        START + PERIOD,
    )
    assert scheduled.status == "scheduled"
    # The forecast sees the change coming.
    charges = credit_forecast(user_id=customer.pk, now=START + 3 * DAY, days=31).charges
    assert [(c.at, c.amount) for c in charges] == [(START + PERIOD, gold.amount)]
    seen = last_sequence(customer)

    billing.bill_due(now=START + PERIOD)

    subscription = refresh(subscription)
    assert (subscription.plan_id, subscription.scheduled_plan_id) == (gold.pk, None)
    assert subscription.current_period_index == 1 and subscription.term_first_index == 1
    assert subscription.next_billing_at == START + 2 * PERIOD
    invoice = subscription.invoices.get(period_index=1)
    assert (invoice.plan_id, invoice.amount, invoice.status) == (gold.pk, gold.amount, "paid")
    assert invoice.issued_at == START + PERIOD
    scheduled.refresh_from_db()
    assert (scheduled.status, scheduled.first_period_index) == ("applied", 1)
    assert event_types(customer, seen) == [
        "subscription.plan_changed",
        "invoice.created",
        "invoice.paid",
    ]
    changed = Event.objects.get(customer=customer, type="subscription.plan_changed")
    assert changed.occurred_at == START + PERIOD
    assert balance(customer) == Decimal("2000.00") - 500 - 1200
    assert_books_balance(customer)


def test_a_scheduled_change_in_the_last_period_renews_on_the_new_plan(customer, gold, weekly):
    top_up(customer, "5000", now=START)
    subscription = buy(customer, weekly)  # 4 weekly periods
    billing.bill_due(now=START + 21 * DAY)
    assert refresh(subscription).current_period_index == 3
    assert refresh(subscription).next_billing_at is None

    subscription, _, quote = change(
        customer, subscription, gold, at="period_end", now=START + 22 * DAY
    )
    assert quote.next_billing_at == START + 28 * DAY
    assert refresh(subscription).next_billing_at == START + 28 * DAY

    billing.bill_due(now=START + 28 * DAY)

    subscription = refresh(subscription)
    assert (subscription.status, subscription.plan_id) == ("active", gold.pk)
    assert subscription.end_at == START + 28 * DAY + 12 * PERIOD
    assert subscription.invoices.get(period_index=4).amount == gold.amount


def test_withdrawing_a_scheduled_change_keeps_the_plan(customer, bronze, gold):
    top_up(customer, "2000", now=START)
    subscription = buy(customer, bronze)
    change(customer, subscription, gold, at="period_end", now=START + DAY)

    subscription = billing.subscription_plan_change_withdraw(
        user_id=customer.pk, subscription_id=subscription.pk, now=START + 2 * DAY
    )

    assert subscription.scheduled_plan_id is None
    assert PlanChange.objects.get().status == "withdrawn"
    billing.bill_due(now=START + PERIOD)
    assert refresh(subscription).invoices.get(period_index=1).amount == bronze.amount
    with pytest.raises(ApplicationError) as nothing:
        billing.subscription_plan_change_withdraw(
            user_id=customer.pk, subscription_id=subscription.pk, now=START + PERIOD
        )
    assert nothing.value.status_code == 404


def test_a_new_request_replaces_the_scheduled_one(customer, bronze, gold, weekly):
    top_up(customer, "2000", now=START)
    subscription = buy(customer, bronze)
    change(customer, subscription, gold, at="period_end", now=START + DAY)

    change(customer, subscription, weekly, at="period_end", now=START + 2 * DAY)

    assert refresh(subscription).scheduled_plan_id == weekly.pk
    assert sorted(PlanChange.objects.values_list("plan_id", "status")) == sorted(
        [(gold.pk, "withdrawn"), (weekly.pk, "scheduled")]
    )


def test_cancelling_withdraws_the_scheduled_change(customer, bronze, gold, weekly):
    top_up(customer, "2000", now=START)
    subscription = buy(customer, weekly)
    change(customer, subscription, gold, at="period_end", now=START + DAY)

    billing.subscription_cancel(
        user_id=customer.pk, subscription_id=subscription.pk, now=START + 2 * DAY
    )

    assert PlanChange.objects.get().status == "withdrawn"
    subscription = refresh(subscription)
    assert subscription.scheduled_plan_id is None
    # The plan it was moving to is free to buy.
    buy(customer, gold, at=START + 3 * DAY)


# --- Refusals ----------------------------------------------------------------------------------


def refusal(call) -> tuple[int, str]:
    with pytest.raises(ApplicationError) as caught:
        call()
    return caught.value.status_code, caught.value.code


def test_what_cannot_be_changed(customer, bronze, gold, weekly):
    top_up(customer, "5000", now=START)
    subscription = buy(customer, bronze)
    other_subscription = buy(customer, weekly)
    archived = Plan.objects.create(name="Old", amount=Decimal("10.00"), archived_at=START)
    stranger = UserFactory()

    assert refusal(lambda: change(customer, subscription, bronze)) == (400, "same_plan")
    assert refusal(lambda: change(customer, subscription, archived)) == (404, "not_found")
    # The customer already has a live subscription to the weekly plan.
    assert refusal(lambda: change(customer, subscription, weekly)) == (409, "already_subscribed")
    assert refusal(lambda: change(stranger, subscription, gold)) == (404, "not_found")
    # A plan another subscription is moving to is taken too, and can't be bought meanwhile.
    change(customer, other_subscription, gold, at="period_end")
    assert refusal(lambda: change(customer, subscription, gold)) == (409, "already_subscribed")
    assert refusal(lambda: buy(customer, gold)) == (409, "already_subscribed")

    billing.subscription_cancel(
        user_id=customer.pk, subscription_id=other_subscription.pk, now=START
    )
    assert refusal(lambda: change(customer, other_subscription, bronze)) == (
        409,
        "subscription_ended",
    )
    assert refusal(lambda: preview(customer, other_subscription, bronze)) == (
        409,
        "subscription_ended",
    )


# --- Preview -----------------------------------------------------------------------------------


def table_counts() -> dict[str, int]:
    from django.apps import apps

    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_the_preview_writes_nothing_even_when_billing_is_due(customer, bronze, gold):
    top_up(customer, "5000", now=START)
    subscription = buy(customer, bronze)
    before = table_counts()
    credit = balance(customer)
    late = START + PERIOD + 5 * DAY  # period 1 is due and not billed yet

    quote = preview(customer, subscription, gold, now=late)

    assert table_counts() == before
    assert balance(customer) == credit
    assert refresh(subscription).current_period_index == 0
    # It saw the state the change would see: period 1 billed first, 25 of its 30 days unused.
    assert quote.balance == credit - bronze.amount
    assert quote.credit_back == Decimal("416.67")
    _, _, done = change(customer, subscription, gold, now=late)
    assert done == quote
