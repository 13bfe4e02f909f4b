"""The billing engine on its own, with an explicit clock."""

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.exceptions import ApplicationError
from invoices import billing
from invoices.models import Invoice
from subscriptions.models import Subscription

from .conftest import START, assert_books_balance, balance, top_up

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
PERIOD = 30 * DAY


def buy(customer, plan, at=START) -> Subscription:
    return billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=at)


def period_start(k: int):
    return START + k * PERIOD


def statuses(subscription):
    return list(
        subscription.invoices.order_by("period_index").values_list("period_index", "status")
    )


def refresh(subscription) -> Subscription:
    subscription.refresh_from_db()
    return subscription


# --- Purchase ----------------------------------------------------------------------------------


def test_purchase_pays_the_first_period_at_once(customer, bronze):
    top_up(customer, "1000", now=START)

    subscription = buy(customer, bronze)

    assert subscription.status == "active" and subscription.is_active
    assert (subscription.start_date, subscription.end_date) == (
        date(2021, 10, 14),
        date(2022, 10, 9),
    )
    assert subscription.next_billing_at == period_start(1)
    assert (subscription.current_period_start, subscription.current_period_end) == (
        START,
        period_start(1),
    )
    invoice = subscription.invoices.get()
    assert (invoice.period_index, invoice.status, invoice.amount) == (0, "paid", Decimal("500.00"))
    assert invoice.issued_at == invoice.paid_at == START
    assert invoice.number == "INV-2021-000001"
    assert balance(customer) == Decimal("500.00")
    assert_books_balance(customer)


def test_purchase_copies_the_plans_terms(customer, bronze):
    top_up(customer, "1000")
    subscription = buy(customer, bronze)

    bronze.amount = Decimal("999.00")
    bronze.payment_cycle = 7
    bronze.save()

    subscription = refresh(subscription)
    assert (subscription.plan_amount, subscription.plan_payment_cycle) == (Decimal("500.00"), 30)
    billing.bill_due(now=period_start(1))
    assert subscription.invoices.get(period_index=1).amount == Decimal("500.00")


def test_purchase_without_enough_credit_creates_and_charges_nothing(customer, bronze):
    top_up(customer, "499.99")

    with pytest.raises(ApplicationError) as refused:
        buy(customer, bronze)

    assert (refused.value.status_code, refused.value.code) == (402, "insufficient_credit")
    assert not Subscription.objects.exists()
    assert not Invoice.objects.exists()
    assert balance(customer) == Decimal("499.99")
    assert_books_balance(customer)


def test_an_archived_or_unknown_plan_cannot_be_bought(customer, bronze):
    top_up(customer, "1000")
    bronze.archived_at = START
    bronze.save()

    for plan_id in (bronze.pk, 12345):
        with pytest.raises(ApplicationError) as refused:
            billing.subscription_purchase(user_id=customer.pk, plan_id=plan_id, now=START)
        assert refused.value.status_code == 404


def test_one_live_subscription_per_plan(customer, bronze, gold):
    top_up(customer, "5000")
    buy(customer, bronze)

    with pytest.raises(ApplicationError) as refused:
        buy(customer, bronze, at=START + DAY)

    assert (refused.value.status_code, refused.value.code) == (409, "already_subscribed")
    assert buy(customer, gold).status == "active"


def test_a_plan_can_be_bought_again_once_the_subscription_ended(customer, gold):
    top_up(customer, "5000")
    first = buy(customer, gold)
    billing.subscription_cancel(user_id=customer.pk, subscription_id=first.pk, now=START + DAY)

    again = buy(customer, gold, at=START + 2 * DAY)

    assert again.pk != first.pk and again.status == "active"


def test_archiving_a_plan_leaves_its_subscriptions_running(customer, bronze):
    top_up(customer, "5000")
    subscription = buy(customer, bronze)
    bronze.archived_at = START + DAY
    bronze.save()

    billing.bill_due(now=period_start(1))

    assert statuses(subscription) == [(0, "paid"), (1, "paid")]


# --- Renewals, suspension, top-up --------------------------------------------------------------


def test_each_period_is_billed_at_its_start_and_only_once(customer, bronze):
    top_up(customer, "1500")
    subscription = buy(customer, bronze)

    assert billing.bill_due(now=period_start(1) - timedelta(seconds=1)).invoices_paid == 0
    report = billing.bill_due(now=period_start(1))
    again = billing.bill_due(now=period_start(1) + DAY)

    assert (report.invoices_paid, again.invoices_paid) == (1, 0)
    assert statuses(subscription) == [(0, "paid"), (1, "paid")]
    invoice = subscription.invoices.get(period_index=1)
    assert (invoice.period_start, invoice.period_end) == (period_start(1), period_start(2))
    assert refresh(subscription).next_billing_at == period_start(2)
    assert balance(customer) == Decimal("500.00")
    assert_books_balance(customer)


def test_short_credit_suspends_and_a_top_up_in_the_same_period_resumes(customer, bronze):
    top_up(customer, "500", now=START)
    subscription = buy(customer, bronze)

    report = billing.bill_due(now=period_start(1))

    assert (report.invoices_unpaid, report.suspended) == (1, 1)
    assert refresh(subscription).status == "suspended"
    assert statuses(subscription) == [(0, "paid"), (1, "unpaid")]

    top_up(customer, "600", now=period_start(1) + 3 * DAY)  # the engine listens to top-ups

    assert refresh(subscription).status == "active"
    assert statuses(subscription) == [(0, "paid"), (1, "paid")]
    assert balance(customer) == Decimal("100.00")
    assert_books_balance(customer)


def test_periods_that_pass_while_suspended_are_never_billed(customer, bronze, time_machine):
    top_up(customer, "500", now=START)
    subscription = buy(customer, bronze)
    billing.bill_due(now=period_start(1))
    billing.bill_due(now=period_start(3) + DAY)

    subscription = refresh(subscription)
    assert subscription.status == "suspended"
    assert subscription.current_period_index == 3
    assert statuses(subscription) == [(0, "paid"), (1, "unpaid")]

    time_machine.move_to(period_start(3) + 2 * DAY, tick=False)
    top_up(customer, "500")

    assert refresh(subscription).status == "active"
    # The stale unpaid invoice is voided; the current period is paid; 2 was never billed.
    assert statuses(subscription) == [(0, "paid"), (1, "void"), (3, "paid")]
    assert balance(customer) == 0
    assert_books_balance(customer)


def test_a_top_up_too_small_leaves_the_subscription_suspended(customer, bronze, time_machine):
    top_up(customer, "500", now=START)
    subscription = buy(customer, bronze)
    billing.bill_due(now=period_start(1))
    time_machine.move_to(period_start(2) + DAY, tick=False)

    top_up(customer, "100")

    assert refresh(subscription).status == "suspended"
    assert statuses(subscription) == [(0, "paid"), (1, "void")]
    assert balance(customer) == Decimal("100.00")


def test_a_top_up_resumes_suspended_subscriptions_oldest_first(customer, bronze, gold):
    top_up(customer, "1700", now=START)
    older = buy(customer, bronze)
    newer = buy(customer, gold, at=START + DAY)
    billing.bill_due(now=period_start(1) + DAY)
    assert (refresh(older).status, refresh(newer).status) == ("suspended", "suspended")

    top_up(customer, "600", now=period_start(1) + 2 * DAY)

    assert (refresh(older).status, refresh(newer).status) == ("active", "suspended")
    assert balance(customer) == Decimal("100.00")


def test_renewals_compete_for_credit_in_time_order(customer, bronze, gold):
    top_up(customer, "2200")  # both first periods; then 500 left for one renewal
    gold_sub = buy(customer, gold, at=START + 2 * DAY)
    bronze_sub = buy(customer, bronze, at=START)

    billing.bill_due(now=period_start(1) + 5 * DAY)

    # Bronze renews first (its period starts two days earlier) and takes the credit.
    assert refresh(bronze_sub).status == "active"
    assert refresh(gold_sub).status == "suspended"
    assert_books_balance(customer)


# --- Pause and reactivate ----------------------------------------------------------------------


def test_paused_periods_are_not_billed_and_reactivation_bills_the_current_one(customer, bronze):
    top_up(customer, "2000")
    subscription = buy(customer, bronze)
    billing.subscription_pause(
        user_id=customer.pk, subscription_id=subscription.pk, now=START + DAY
    )
    billing.bill_due(now=period_start(2) + DAY)

    assert refresh(subscription).status == "paused"
    assert statuses(subscription) == [(0, "paid")]

    billing.subscription_reactivate(
        user_id=customer.pk, subscription_id=subscription.pk, now=period_start(2) + 2 * DAY
    )

    assert refresh(subscription).status == "active"
    assert statuses(subscription) == [(0, "paid"), (2, "paid")]
    assert balance(customer) == Decimal("1000.00")
    assert_books_balance(customer)


def test_reactivating_within_a_paid_period_charges_nothing(customer, bronze):
    top_up(customer, "500")
    subscription = buy(customer, bronze)
    billing.subscription_pause(
        user_id=customer.pk, subscription_id=subscription.pk, now=START + DAY
    )

    billing.subscription_reactivate(
        user_id=customer.pk, subscription_id=subscription.pk, now=START + 2 * DAY
    )

    assert refresh(subscription).status == "active"
    assert balance(customer) == 0


def test_reactivation_without_credit_is_402_and_stays_paused(customer, bronze):
    top_up(customer, "500")
    subscription = buy(customer, bronze)
    billing.subscription_pause(
        user_id=customer.pk, subscription_id=subscription.pk, now=START + DAY
    )

    with pytest.raises(ApplicationError) as refused:
        billing.subscription_reactivate(
            user_id=customer.pk, subscription_id=subscription.pk, now=period_start(1) + DAY
        )

    assert refused.value.status_code == 402
    assert refresh(subscription).status == "paused"
    assert statuses(subscription) == [(0, "paid")]


def test_pausing_or_reactivating_twice_changes_nothing(customer, bronze):
    top_up(customer, "500")
    subscription = buy(customer, bronze)
    for _ in range(2):
        billing.subscription_reactivate(
            user_id=customer.pk, subscription_id=subscription.pk, now=START + DAY
        )
    for _ in range(2):
        billing.subscription_pause(
            user_id=customer.pk, subscription_id=subscription.pk, now=START + DAY
        )

    assert refresh(subscription).status == "paused"
    assert balance(customer) == 0


def test_a_suspended_subscription_can_be_paused_then_reactivated_after_a_top_up(customer, bronze):
    top_up(customer, "500", now=START)
    subscription = buy(customer, bronze)
    billing.bill_due(now=period_start(1))
    billing.subscription_pause(
        user_id=customer.pk, subscription_id=subscription.pk, now=period_start(1) + DAY
    )
    top_up(customer, "500", now=period_start(1) + 2 * DAY)
    assert refresh(subscription).status == "paused"  # top-ups only resume suspended ones

    billing.subscription_reactivate(
        user_id=customer.pk, subscription_id=subscription.pk, now=period_start(1) + 3 * DAY
    )

    assert statuses(subscription) == [(0, "paid"), (1, "paid")]
    assert_books_balance(customer)


def test_someone_elses_subscription_is_not_found(customer, bronze):
    from accounts.tests.factories import UserFactory

    other = UserFactory()
    top_up(other, "500")
    theirs = buy(other, bronze)

    for action in (billing.subscription_pause, billing.subscription_cancel):
        with pytest.raises(ApplicationError) as refused:
            action(user_id=customer.pk, subscription_id=theirs.pk, now=START)
        assert refused.value.status_code == 404
    assert refresh(theirs).status == "active"


# --- Expiry and cancellation -------------------------------------------------------------------


def test_a_subscription_expires_after_its_last_period(customer, bronze):
    top_up(customer, "6000")
    subscription = buy(customer, bronze)

    billing.bill_due(now=START + 360 * DAY - timedelta(seconds=1))
    assert refresh(subscription).status == "active"
    report = billing.bill_due(now=START + 360 * DAY)

    subscription = refresh(subscription)
    assert report.expired == 1
    assert subscription.status == "expired" and not subscription.is_active
    assert subscription.next_billing_at is None
    assert subscription.ended_at == subscription.end_at == START + 360 * DAY
    assert [index for index, _ in statuses(subscription)] == list(range(12))
    assert balance(customer) == 0
    assert billing.bill_due(now=START + 720 * DAY).invoices_paid == 0


def test_cancel_ends_a_cancellable_subscription_without_refund(customer, gold):
    top_up(customer, "1200")
    subscription = buy(customer, gold)

    billing.subscription_cancel(
        user_id=customer.pk, subscription_id=subscription.pk, now=START + DAY
    )

    subscription = refresh(subscription)
    assert (subscription.status, subscription.next_billing_at) == ("cancelled", None)
    assert balance(customer) == 0
    top_up(customer, "5000")
    billing.bill_due(now=period_start(5))
    assert statuses(subscription) == [(0, "paid")]


def test_cancelling_a_suspended_subscription_voids_its_unpaid_invoice(customer, gold):
    top_up(customer, "1200")
    subscription = buy(customer, gold)
    billing.bill_due(now=period_start(1))

    billing.subscription_cancel(
        user_id=customer.pk, subscription_id=subscription.pk, now=period_start(1) + DAY
    )

    assert statuses(subscription) == [(0, "paid"), (1, "void")]


def test_a_plan_that_is_not_cancellable_refuses(customer, bronze):
    top_up(customer, "500")
    subscription = buy(customer, bronze)

    with pytest.raises(billing.SubscriptionNotCancellable) as refused:
        billing.subscription_cancel(user_id=customer.pk, subscription_id=subscription.pk, now=START)

    assert (refused.value.status_code, refused.value.message) == (409, "Plan is not cancellable")
    assert refresh(subscription).status == "active"


def test_ended_subscriptions_cannot_change(customer, gold):
    top_up(customer, "1200")
    subscription = buy(customer, gold)
    billing.subscription_cancel(user_id=customer.pk, subscription_id=subscription.pk, now=START)

    for action in (
        billing.subscription_pause,
        billing.subscription_reactivate,
        billing.subscription_cancel,
    ):
        with pytest.raises(ApplicationError) as refused:
            action(user_id=customer.pk, subscription_id=subscription.pk, now=START + DAY)
        assert (refused.value.status_code, refused.value.code) == (409, "subscription_ended")


# --- Catch-up after downtime -------------------------------------------------------------------


def test_catch_up_bills_every_missed_period_once_in_order(customer, bronze):
    top_up(customer, "3000")
    subscription = buy(customer, bronze)

    report = billing.bill_due(now=period_start(5) + 3 * DAY)
    again = billing.bill_due(now=period_start(5) + 3 * DAY)

    assert (report.invoices_paid, again.invoices_paid) == (5, 0)
    invoices = list(subscription.invoices.order_by("period_index"))
    assert [invoice.period_index for invoice in invoices] == [0, 1, 2, 3, 4, 5]
    assert [invoice.issued_at for invoice in invoices] == [period_start(k) for k in range(6)]
    assert refresh(subscription).next_billing_at == period_start(6)
    assert_books_balance(customer)


def test_catch_up_suspends_at_the_first_period_credit_cannot_cover(customer, bronze):
    top_up(customer, "1500")
    subscription = buy(customer, bronze)

    billing.bill_due(now=period_start(6))

    assert statuses(subscription) == [(0, "paid"), (1, "paid"), (2, "paid"), (3, "unpaid")]
    assert refresh(subscription).status == "suspended"


def test_catch_up_reaches_expiry(customer, bronze):
    top_up(customer, "6000")
    subscription = buy(customer, bronze)

    billing.bill_due(now=START + 1000 * DAY)

    assert refresh(subscription).status == "expired"
    assert len(statuses(subscription)) == 12


def test_a_job_bills_only_its_customers_due_periods(customer, bronze):
    from accounts.tests.factories import UserFactory

    other = UserFactory()
    for person in (customer, other):
        top_up(person, "1000")
    mine, theirs = buy(customer, bronze), buy(other, bronze)

    report = billing.subscription_bill(subscription_id=mine.pk, now=period_start(1))

    assert report.invoices_paid == 1
    assert len(statuses(mine)) == 2 and len(statuses(theirs)) == 1
    assert billing.subscription_bill(subscription_id=999999, now=START).invoices_paid == 0


def test_billing_day_seconds_shortens_the_periods(customer, bronze, settings):
    settings.BILLING_DAY_SECONDS = 2
    top_up(customer, "1500")
    subscription = buy(customer, bronze)

    assert subscription.next_billing_at == START + timedelta(seconds=60)
    assert subscription.end_at == START + timedelta(seconds=720)
    billing.bill_due(now=START + timedelta(seconds=125))
    assert statuses(subscription) == [(0, "paid"), (1, "paid"), (2, "paid")]


# --- The bill command --------------------------------------------------------------------------


def test_bill_command_replays_the_clock_and_reports(customer, bronze):
    top_up(customer, "1000")
    subscription = buy(customer, bronze)
    out = StringIO()

    call_command("bill", "--at", (period_start(1) + DAY).isoformat(), stdout=out, stderr=StringIO())

    assert "1 customer(s) with periods due" in out.getvalue()
    assert "invoices paid: 1" in out.getvalue()
    assert statuses(subscription) == [(0, "paid"), (1, "paid")]


def test_bill_command_with_nothing_due(db):
    out = StringIO()

    call_command("bill", stdout=out, stderr=StringIO())

    assert "0 customer(s)" in out.getvalue()


def test_bill_command_rejects_a_bad_date(db):
    with pytest.raises(CommandError):
        call_command("bill", "--at", "yesterday", stdout=StringIO())
