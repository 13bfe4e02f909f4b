"""
Differential, property-based: random lives (purchases, top-ups, pauses, reactivations, cancels,
changes of plan now or at the period's end, clock jumps) lived identically by three customers;
two are billed by the batch run (one page, together) and one a customer at a time
(``_bill_customer``, as ``bill_due`` did before the batch run). After every step their books are
the same: invoices, ledger lines in id order, subscriptions, changes of plan, events, balance,
what the runs reported.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.credit import credit_top_up
from accounts.models import User
from accounts.tests.factories import UserFactory
from core.exceptions import ApplicationError
from events.models import Event
from invoices import billing
from invoices.models import BillingFailure, Invoice
from plans.models import Plan
from subscriptions.models import PlanChange, Subscription

from .conftest import START, assert_books_balance

pytestmark = pytest.mark.django_db

operations = st.one_of(
    st.tuples(st.just("top_up"), st.sampled_from(["100", "300", "500", "1250"])),
    st.tuples(st.just("purchase"), st.integers(0, 2)),
    st.tuples(st.just("pause"), st.integers(0, 3)),
    st.tuples(st.just("reactivate"), st.integers(0, 3)),
    st.tuples(st.just("cancel"), st.integers(0, 3)),
    st.tuples(
        st.just("change"),
        st.tuples(st.integers(0, 3), st.integers(0, 2), st.sampled_from(["now", "period_end"])),
    ),
    st.tuples(st.just("withdraw"), st.integers(0, 3)),
    # Days (and hours) that cross period starts, grace periods and terms: a weekly plan's four
    # weeks, a 30-day plan's periods, a long downtime's catch-up.
    st.tuples(st.just("wait"), st.sampled_from([1, 3, 7, 8, 30, 31, 45, 75])),
    st.tuples(st.just("wait_hours"), st.integers(1, 30)),
)
# Every life starts with credit and a subscription: the rest is random.
lives = st.tuples(st.sampled_from(["500", "1250"]), st.integers(0, 2)).flatmap(
    lambda start: st.lists(operations, max_size=25).map(
        lambda rest: [("top_up", start[0]), ("purchase", start[1]), *rest]
    )
)

SUBSCRIPTION_SKIP = {"id", "user_id", "updated_at"}
CHANGE_SKIP = {"id", "subscription_id"}


def books(customer: User) -> dict:
    """Everything billing wrote for the customer, with ids replaced by what they stand for."""
    subscriptions = list(Subscription.objects.filter(user=customer).order_by("id"))
    nth = {s.pk: n for n, s in enumerate(subscriptions)}
    invoices = list(Invoice.objects.filter(user=customer).order_by("id"))
    period = {i.pk: (nth[i.subscription_id], i.period_index) for i in invoices}
    changes = PlanChange.objects.filter(subscription__user=customer).order_by("id")
    lines = list(customer.credit_transactions.order_by("id"))
    line_nth = {line.pk: n for n, line in enumerate(lines)}
    events = []
    for event in Event.objects.filter(customer=customer).order_by("sequence"):
        data = dict(event.data)
        if event.type.startswith("invoice."):
            del data["id"], data["number"]
            data["subscription_id"] = nth[data["subscription_id"]]
        elif event.type.startswith("credit."):
            data["id"] = line_nth[data["id"]]
            data.pop("invoice_id", None)
        else:
            data["id"] = nth[data["id"]]
        events.append((event.sequence, event.type, event.occurred_at, data))
    customer.refresh_from_db()
    return {
        "balance": customer.credit,
        "subscriptions": [
            {
                f.attname: getattr(s, f.attname)
                for f in Subscription._meta.concrete_fields
                if f.attname not in SUBSCRIPTION_SKIP
            }
            for s in subscriptions
        ],
        "changes": [
            {
                f.attname: getattr(c, f.attname)
                for f in PlanChange._meta.concrete_fields
                if f.attname not in CHANGE_SKIP
            }
            for c in changes
        ],
        "invoices": [
            (
                nth[i.subscription_id],
                i.period_index,
                i.period_start,
                i.period_end,
                i.plan_id,
                i.plan_name,
                i.amount,
                i.status,
                i.issued_at,
                i.paid_at,
                i.voided_at,
                i.plan_change_id is not None,
                i.payment.amount if i.payment_id else None,
            )
            for i in invoices
        ],
        "ledger": [
            (
                line.kind,
                line.amount,
                line.balance_after,
                line.created_at,
                line.note,
                period.get(line.invoice_id) if line.invoice_id else None,
            )
            for line in lines
        ],
        "events": events,
        "failures": BillingFailure.objects.filter(user=customer).count(),
    }


def act(customer: User, plans: list[Plan], action: str, argument, now) -> str | None:
    """Do what the step says for the customer; the refusal's code, if refused."""
    subscriptions = list(Subscription.objects.filter(user=customer).order_by("id"))
    try:
        if action == "top_up":
            credit_top_up(user_id=customer.pk, amount=Decimal(argument), now=now)
        elif action == "purchase":
            billing.subscription_purchase(user_id=customer.pk, plan_id=plans[argument].pk, now=now)
        elif action == "change" and subscriptions:
            which, plan, timing = argument
            billing.subscription_plan_change(
                user_id=customer.pk,
                subscription_id=subscriptions[which % len(subscriptions)].pk,
                plan_id=plans[plan].pk,
                timing=timing,
                now=now,
            )
        elif action in {"pause", "reactivate", "cancel", "withdraw"} and subscriptions:
            service = {
                "pause": billing.subscription_pause,
                "reactivate": billing.subscription_reactivate,
                "cancel": billing.subscription_cancel,
                "withdraw": billing.subscription_plan_change_withdraw,
            }[action]
            target = subscriptions[argument % len(subscriptions)].pk
            service(user_id=customer.pk, subscription_id=target, now=now)
    except ApplicationError as refusal:
        return refusal.code
    return None


def numbers_are_gapless() -> None:
    taken = defaultdict(list)
    for year, seq, number in Invoice.objects.values_list("number_year", "number_seq", "number"):
        assert number == f"INV-{year}-{seq:06d}"
        taken[year].append(seq)
    for seqs in taken.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=lives, grace_days=st.sampled_from([0, 3, 40]))
# Lives the random ones may take long to find: renewals paid then short, a catch-up, expiry
# voiding an unpaid invoice, changes of plan at the period's end and now, a cancel.
@example(
    steps=[("top_up", "1250"), ("purchase", 0), ("wait", 31), ("wait", 75), ("wait", 40)],
    grace_days=0,
)
@example(
    steps=[("top_up", "100"), ("purchase", 2), ("wait", 8), ("wait", 40)],
    grace_days=3,
)
@example(
    steps=[
        ("top_up", "1250"), ("top_up", "1250"), ("purchase", 0), ("purchase", 2),
        ("change", (0, 1, "period_end")), ("wait", 31), ("change", (1, 0, "now")),
        ("wait", 10), ("cancel", 1), ("wait", 75),
    ],
    grace_days=40,
)  # fmt: skip
def test_the_batch_run_keeps_the_same_books_as_one_customer_at_a_time(db, steps, grace_days):
    # Each example has customers and plans of its own (examples share the database).
    batched, also_batched, alone = UserFactory(), UserFactory(), UserFactory()
    plans = [
        Plan.objects.create(name="Bronze", amount=Decimal("500.00")),
        Plan.objects.create(name="Gold", amount=Decimal("1200.00"), is_cancellable=True),
        Plan.objects.create(
            name="Weekly", amount=Decimal("99.99"), payment_cycle=7, total_valid_months=4,
            is_cancellable=True,
        ),
    ]  # fmt: skip
    now = START
    with override_settings(BILLING_GRACE_DAYS=grace_days):
        for action, argument in steps:
            if action == "wait":
                now += timedelta(days=argument, hours=argument % 5)
            elif action == "wait_hours":
                now += timedelta(hours=argument)
            refusals = {
                act(customer, plans, action, argument, now)
                for customer in (batched, also_batched, alone)
            }
            assert len(refusals) == 1, refusals

            in_batch, one_at_a_time = billing.BillingReport(), billing.BillingReport()
            busy = billing._bill_page(
                [batched.pk, also_batched.pk], now, in_batch, skip_locked=False
            )
            settle = alone.pk in billing._settling([alone.pk])
            billing._bill_customer(alone.pk, now, one_at_a_time, settle=settle)
            assert busy == []
            for field in ("customers", "invoices_paid", "invoices_unpaid", "invoices_voided"):
                assert getattr(in_batch, field) == 2 * getattr(one_at_a_time, field), field
            for field in ("suspended", "resumed", "expired", "failed"):
                assert getattr(in_batch, field) == 2 * getattr(one_at_a_time, field), field

            expected = books(alone)
            assert books(batched) == expected
            assert books(also_batched) == expected
        for customer in (batched, also_batched, alone):
            assert_books_balance(customer)
        numbers_are_gapless()
