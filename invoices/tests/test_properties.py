"""
Property-based: random sequences of top-ups, purchases, pauses, reactivations, cancels, changes
of plan (now, at the period's end, withdrawn) and clock jumps never break the books, whatever
order they come in (with or without a grace period); each clock jump bills exactly what the
credit forecast said it would (scheduled changes included); and each change of plan does exactly
what its preview, asked at the same moment, said it would (also when the clock passed boundaries
no billing run has processed yet: both catch them up first).
"""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Max
from django.test import override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.credit import credit_top_up
from accounts.models import CreditTransaction
from accounts.tests.factories import UserFactory
from core.exceptions import ApplicationError
from invoices import billing
from invoices.forecast import credit_forecast
from invoices.models import Invoice
from plans.models import Plan
from subscriptions.models import PlanChange, Subscription

from .conftest import START, assert_books_balance

pytestmark = pytest.mark.django_db

which = st.tuples(st.integers(0, 3), st.integers(0, 2))  # which subscription, which plan
arguments = {
    "top_up": st.sampled_from(["100", "300", "500", "1250"]),
    "purchase": st.integers(0, 2),
    "pause": st.integers(0, 3),
    "reactivate": st.integers(0, 3),
    "cancel": st.integers(0, 3),
    "wait": st.integers(0, 75),
    "wait_unbilled": st.integers(0, 75),  # no billing run after it: the next service catches up
    "withdraw": st.integers(0, 3),
    "change_now": which,
    "change_end": which,
}
# Changes of plan weigh three times as much as the rest (and waits twice): about 40% of steps.
actions = [*arguments, "wait", *["change_now", "change_end"] * 2]
operations = st.sampled_from(actions).flatmap(
    lambda action: arguments[action].map(lambda argument: (action, argument))
)


def check_invariants(customer, now, plans) -> None:
    assert_books_balance(customer)
    amounts = {plan.pk: plan.amount for plan in plans}  # the test's plans are never edited
    subscriptions = list(Subscription.objects.filter(user=customer))
    live = [s for s in subscriptions if s.is_live]
    taken = [s.plan_id for s in live] + [s.scheduled_plan_id for s in live if s.scheduled_plan_id]
    assert len(taken) == len(set(taken)), "two live subscriptions of one plan (or will be)"
    changes = list(PlanChange.objects.filter(subscription__user=customer).order_by("pk"))
    for subscription in subscriptions:
        own = [c for c in changes if c.subscription_id == subscription.pk]
        applied = sorted(
            (c for c in own if c.status == "applied"), key=lambda c: c.first_period_index
        )
        scheduled = [c for c in own if c.status == "scheduled"]
        assert [c.plan_id for c in scheduled] == (
            [subscription.scheduled_plan_id] if subscription.scheduled_plan_id else []
        )
        if applied:
            # The current term is the last applied change's.
            last = applied[-1]
            assert (subscription.plan_id, subscription.term_first_index) == (
                last.plan_id,
                last.first_period_index,
            )
            assert subscription.term_start_at == last.effective_at
            for before, after in itertools.pairwise(applied):
                assert before.plan_id == after.from_plan_id
        else:
            assert (subscription.term_first_index, subscription.term_start_at) == (
                0,
                subscription.start_at,
            )
        invoices = sorted(subscription.invoices.all(), key=lambda i: i.period_index)
        for invoice in invoices:
            # Each invoice is for the plan of the term its period belongs to, at that plan's price.
            term = [c for c in applied if c.first_period_index <= invoice.period_index]
            plan_id = term[-1].plan_id if term else (own[0].from_plan_id if own else None)
            assert invoice.plan_id == (plan_id or subscription.plan_id)
            assert invoice.amount == amounts[invoice.plan_id]
            assert invoice.period_index <= subscription.current_period_index
            if invoice.period_index >= subscription.term_first_index:
                assert invoice.period_start == subscription.period_start(invoice.period_index)
                assert invoice.period_end == subscription.period_end(invoice.period_index)
            if invoice.plan_change_id is not None:
                change = next(c for c in applied if c.pk == invoice.plan_change_id)
                assert change.timing == "now"
                assert invoice.period_index == change.first_period_index
                assert invoice.period_start == change.effective_at == change.requested_at
        starts = [invoice.period_start for invoice in invoices]
        # Periods go forward (changes made now at one instant start periods at that instant).
        assert starts == sorted(starts)
        unpaid = [i for i in invoices if i.status == Invoice.Status.UNPAID]
        if not subscription.is_live:
            assert subscription.next_boundary_at is subscription.next_billing_at is None
            assert subscription.scheduled_plan_id is None, "an ended subscription keeps a change"
            assert not unpaid, "an ended subscription keeps an unpaid invoice"
            continue
        assert subscription.next_boundary_at > now, "a due period was left unprocessed"
        assert subscription.next_boundary_at == subscription.period_start(
            subscription.current_period_index + 1
        )
        if subscription.next_billing_at is not None:
            assert subscription.is_active, "a time to bill what will not be billed"
        assert subscription.status != "active" or not unpaid
        if subscription.status == "past_due":
            # Served while its current period's invoice waits, until the grace period ends.
            assert now < subscription.grace_ends_at <= subscription.next_boundary_at
            assert [(i.period_index, i.status) for i in unpaid] == [
                (subscription.current_period_index, "unpaid")
            ]
        else:
            assert subscription.grace_ends_at is None
        if subscription.status == "active":
            current = [i for i in invoices if i.period_index == subscription.current_period_index]
            assert [i.status for i in current] == ["paid"], "an active period is not paid"


def snapshot(customer) -> tuple:
    """Everything of the customer's that a service may write (to show that nothing was)."""
    customer.refresh_from_db()
    return (
        customer.credit,
        list(CreditTransaction.objects.filter(user=customer).values_list("pk", "amount")),
        list(Invoice.objects.filter(user=customer).order_by("pk").values_list("pk", "status")),
        list(
            Subscription.objects.filter(user=customer)
            .order_by("pk")
            .values_list(
                "pk",
                "plan_id",
                "status",
                "scheduled_plan_id",
                "current_period_index",
                "term_start_at",
                "next_boundary_at",
                "grace_ends_at",
            )
        ),
        list(
            PlanChange.objects.filter(subscription__user=customer)
            .order_by("pk")
            .values_list("pk", "status")
        ),
    )


def change_and_compare(customer, subscription_id, plan, timing, now) -> None:
    """Preview a change of plan, make it at the same moment, and check it did what was shown."""
    ask = {
        "user_id": customer.pk,
        "subscription_id": subscription_id,
        "plan_id": plan.pk,
        "timing": timing,
        "now": now,
    }
    before = snapshot(customer)
    try:
        quote = billing.subscription_plan_change_preview(**ask)
    except ApplicationError as refusal:
        quote, refused = None, refusal
    assert snapshot(customer) == before, "the preview wrote something"
    last_line = max([pk for pk, _ in before[1]], default=0)
    try:
        subscription, change, done = billing.subscription_plan_change(**ask)
    except ApplicationError as refusal:
        assert snapshot(customer) == before, "a refused change changed something"
        if quote is None:
            # Refused for the same reason the preview was.
            assert (refusal.status_code, refusal.code) == (refused.status_code, refused.code)
            assert refusal.status_code in {400, 404, 409}
        else:
            # The only refusal a preview cannot raise: the credit can't pay, as it showed.
            assert refusal.status_code == 402
            assert timing == "now" and quote.payable is False
        return
    assert quote is not None, f"the preview refused ({refused.code}), the change did not"
    assert done == quote
    assert quote.payable
    assert (quote.subscription_id, quote.plan_id, quote.at) == (subscription_id, plan.pk, timing)
    assert quote.balance_after == quote.balance + quote.credit_back - quote.charge
    subscription.refresh_from_db()
    change.refresh_from_db()
    assert subscription.next_billing_at == quote.next_billing_at
    assert change.effective_at == quote.effective_at
    lines = list(CreditTransaction.objects.filter(user=customer, pk__gt=last_line).order_by("pk"))
    customer.refresh_from_db()
    if timing == "period_end":
        assert (quote.credit_back, quote.charge) == (0, 0)
        assert (change.status, subscription.scheduled_plan_id) == ("scheduled", plan.pk)
        assert quote.effective_at == subscription.next_boundary_at
        assert quote.next_billing_amount == (
            plan.amount if quote.next_billing_at is not None else None
        )
        caught_up, settled = lines, []
    else:
        invoice = Invoice.objects.get(plan_change=change)
        assert (invoice.amount, invoice.status, invoice.plan_id) == (quote.charge, "paid", plan.pk)
        assert change.credit_back == quote.credit_back
        assert (change.status, subscription.plan_id, subscription.status) == (
            "applied",
            plan.pk,
            "active",
        )
        assert invoice.period_start == quote.effective_at == now == subscription.term_start_at
        assert quote.next_billing_at == subscription.next_boundary_at or (
            quote.next_billing_at is None and subscription.in_last_period
        )
        # The change's own lines: the credit back (if any), then the new period's payment.
        own = [
            n
            for n, line in enumerate(lines)
            if line.kind == "proration_credit" or line.invoice_id == invoice.pk
        ]
        assert own == list(range(own[0], own[-1] + 1))
        caught_up, settled = lines[: own[0]], lines[own[-1] + 1 :]
        assert [(line.kind, line.amount) for line in lines[own[0] : own[-1] + 1]] == [
            *([("proration_credit", quote.credit_back)] if quote.credit_back else []),
            ("invoice_payment", -quote.charge),
        ]
    # Before the change's lines, the renewals of boundaries the clock passed unbilled (the
    # preview saw them too); after them nothing: the change moves exactly what the preview said
    # (credit it brings back resumes other subscriptions at the next billing run, not here).
    assert all(line.kind == "invoice_payment" for line in caught_up)
    assert not settled
    assert quote.balance == before[0] + sum((line.amount for line in caught_up), Decimal("0"))
    assert customer.credit == quote.balance_after


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    credit=st.sampled_from(["0", "600", "1800", "5000"]),
    bought=st.lists(st.integers(0, 2), max_size=3),
    steps=st.lists(operations, min_size=3, max_size=25),
    grace_days=st.sampled_from([0, 3, 10, 40]),
)
# A change made now whose credit back exceeds its charge, while another subscription (Gold) is
# suspended: the change moves exactly what its preview said; the next billing run resumes Gold.
@example(
    credit="1800",
    bought=[0, 1],
    steps=[("top_up", "1250"), ("wait", 30), ("change_now", (0, 2))],
    grace_days=0,
)
def test_random_lives_keep_the_books_straight(db, credit, bought, steps, grace_days):
    # Each example has a customer and plans of its own: examples need no rollback between them
    # (and bill_due, whose transactions must not be nested, runs as in production).
    customer = UserFactory()
    plans = [
        Plan.objects.create(name="Bronze", amount=Decimal("500.00")),
        Plan.objects.create(name="Gold", amount=Decimal("1200.00"), is_cancellable=True),
        Plan.objects.create(
            name="Weekly", amount=Decimal("99.99"), payment_cycle=7, total_valid_months=4,
            is_cancellable=True,
        ),
    ]  # fmt: skip
    now = START
    # Most lives start with credit and a subscription or two, so that changes of plan happen.
    opening = [("top_up", credit)] if credit != "0" else []
    opening += [("purchase", plan) for plan in bought]
    with override_settings(BILLING_GRACE_DAYS=grace_days):
        live(customer, plans, opening + steps, now)


def live(customer, plans, steps, now) -> None:
    for action, argument in steps:
        subscriptions = list(Subscription.objects.filter(user=customer).order_by("id"))
        forecast = None
        try:
            if action == "top_up":
                credit_top_up(user_id=customer.pk, amount=Decimal(argument), now=now)
            elif action == "purchase":
                billing.subscription_purchase(
                    user_id=customer.pk, plan_id=plans[argument].pk, now=now
                )
            elif action == "wait":
                forecast = credit_forecast(user_id=customer.pk, now=now, days=366)
                issued_before = Invoice.objects.aggregate(last=Max("pk"))["last"] or 0
                now += timedelta(days=argument, hours=argument % 5)
            elif action == "wait_unbilled":
                now += timedelta(days=argument, hours=argument % 5)
            elif action in ("change_now", "change_end") and subscriptions:
                index, plan = argument
                # Mostly live ones (an ended one is refused, as its preview is).
                candidates = [s for s in subscriptions if s.is_live] or subscriptions
                target = candidates[index % len(candidates)].pk
                timing = "now" if action == "change_now" else "period_end"
                change_and_compare(customer, target, plans[plan], timing, now)
            elif subscriptions and action in ("pause", "reactivate", "cancel", "withdraw"):
                target = subscriptions[argument % len(subscriptions)].pk
                service = {
                    "pause": billing.subscription_pause,
                    "reactivate": billing.subscription_reactivate,
                    "cancel": billing.subscription_cancel,
                    "withdraw": billing.subscription_plan_change_withdraw,
                }[action]
                before = snapshot(customer) if action == "withdraw" else None
                try:
                    service(user_id=customer.pk, subscription_id=target, now=now)
                except ApplicationError:
                    assert before is None or snapshot(customer) == before
                    raise
                if action == "withdraw":
                    subscription = Subscription.objects.get(pk=target)
                    assert subscription.scheduled_plan_id is None
                    assert not subscription.plan_changes.filter(status="scheduled").exists()
        except ApplicationError as refusal:
            assert refusal.status_code in {402, 404, 409}
        if action == "wait_unbilled":
            continue  # what the clock passed is billed by the next step's service, first
        billing.bill_due(now=now)
        check_invariants(customer, now, plans)
        if forecast is not None:
            # The clock moved on: billing charged exactly what the forecast said it would,
            # changes of plan scheduled for the way included.
            issued = Invoice.objects.filter(user=customer, pk__gt=issued_before)
            assert [
                (i.issued_at, i.subscription_id, i.amount, i.status == "paid")
                for i in issued.order_by("pk")
            ] == [
                (c.at, c.subscription_id, c.amount, c.covered)
                for c in forecast.charges
                if c.at <= now
            ]
