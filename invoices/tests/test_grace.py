"""BILLING_GRACE_DAYS: an unpaid period leaves the subscription past_due, still served, until
credit pays it or the grace period ends and it is suspended."""

from datetime import timedelta

import pytest

from accounts.signals import credit_added
from core.exceptions import InsufficientCredit
from events.models import Event
from invoices import billing
from invoices.forecast import credit_forecast
from invoices.models import Invoice
from invoices.receivers import settle_after_credit_added
from subscriptions.models import Subscription

from .conftest import START, assert_books_balance, balance, top_up

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
RENEWAL = START + 30 * DAY


@pytest.fixture
def grace(settings):
    settings.BILLING_GRACE_DAYS = 5


@pytest.fixture
def subscription(customer, bronze) -> Subscription:
    top_up(customer, "600", now=START)  # 100 left: the renewal at day 30 is short
    return billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)


def refresh(subscription) -> Subscription:
    subscription.refresh_from_db()
    return subscription


def renewal_invoice(subscription) -> Invoice:
    return subscription.invoices.get(period_index=1)


def event_times(customer, type) -> list:
    return list(
        Event.objects.filter(customer=customer, type=type)
        .order_by("sequence")
        .values_list("occurred_at", flat=True)
    )


def test_without_grace_a_short_renewal_suspends_at_once(customer, subscription):
    billing.bill_due(now=RENEWAL)

    assert refresh(subscription).status == "suspended" and not subscription.is_active
    assert event_times(customer, "subscription.past_due") == []


def test_a_short_renewal_leaves_the_subscription_past_due_and_served(
    customer, subscription, grace, client
):
    report = billing.bill_due(now=RENEWAL + DAY)

    subscription = refresh(subscription)
    assert (subscription.status, subscription.is_active) == ("past_due", True)
    assert subscription.grace_ends_at == RENEWAL + 5 * DAY
    assert subscription.next_billing_at == START + 60 * DAY  # billed then if paid by then
    assert renewal_invoice(subscription).status == "unpaid"
    assert (report.invoices_unpaid, report.suspended) == (1, 0)
    assert event_times(customer, "subscription.past_due") == [RENEWAL]
    shown = client.get(f"/api/v1/subscriptions/{subscription.pk}/").json()
    assert (shown["status"], shown["is_active"]) == ("past_due", True)
    assert_books_balance(customer)


def test_a_top_up_within_grace_pays_the_invoice(customer, subscription, grace):
    billing.bill_due(now=RENEWAL)

    top_up(customer, "400", now=RENEWAL + 2 * DAY)

    subscription = refresh(subscription)
    assert (subscription.status, subscription.grace_ends_at) == ("active", None)
    assert renewal_invoice(subscription).status == "paid"
    assert balance(customer) == 0
    assert event_times(customer, "subscription.resumed") == [RENEWAL + 2 * DAY]
    assert event_times(customer, "subscription.suspended") == []
    assert_books_balance(customer)


def test_a_top_up_short_of_the_invoice_leaves_it_past_due(customer, subscription, grace):
    billing.bill_due(now=RENEWAL)

    top_up(customer, "300", now=RENEWAL + DAY)

    assert refresh(subscription).status == "past_due"
    assert renewal_invoice(subscription).status == "unpaid"


def test_the_daily_retry_pays_when_credit_arrived_without_settling(customer, subscription, grace):
    billing.bill_due(now=RENEWAL)
    # The top-up's own settlement is lost (its listener is gone): the billing sweep retries.
    assert credit_added.disconnect(dispatch_uid="invoices.settle_after_credit_added")
    try:
        top_up(customer, "400", now=RENEWAL + DAY)
        assert refresh(subscription).status == "past_due"

        billing.bill_due(now=RENEWAL + 2 * DAY)
    finally:
        credit_added.connect(
            settle_after_credit_added, dispatch_uid="invoices.settle_after_credit_added"
        )

    assert refresh(subscription).status == "active"
    assert renewal_invoice(subscription).status == "paid"


def test_grace_ending_unpaid_suspends_at_its_end(customer, subscription, grace):
    billing.bill_due(now=RENEWAL + 4 * DAY)
    assert refresh(subscription).status == "past_due"

    report = billing.bill_due(now=RENEWAL + 9 * DAY)

    subscription = refresh(subscription)
    assert (subscription.status, subscription.is_active) == ("suspended", False)
    assert (subscription.grace_ends_at, subscription.next_billing_at) == (None, None)
    assert renewal_invoice(subscription).status == "unpaid"
    assert report.suspended == 1
    assert event_times(customer, "subscription.suspended") == [RENEWAL + 5 * DAY]
    # Suspended as today: a top-up pays the current period and resumes it.
    top_up(customer, "400", now=RENEWAL + 10 * DAY)
    assert refresh(subscription).status == "active"
    assert_books_balance(customer)


def test_grace_never_outlasts_the_period(customer, subscription, settings):
    settings.BILLING_GRACE_DAYS = 45  # longer than the 30-day period

    billing.bill_due(now=START + 61 * DAY)

    subscription = refresh(subscription)
    assert subscription.status == "suspended"
    assert event_times(customer, "subscription.suspended") == [START + 60 * DAY]
    # The period that started after the grace ended is not billed (suspended).
    assert not subscription.invoices.filter(period_index=2).exists()


def test_reactivation_of_a_past_due_subscription_needs_the_credit(customer, subscription, grace):
    billing.bill_due(now=RENEWAL)

    with pytest.raises(InsufficientCredit):
        billing.subscription_reactivate(
            user_id=customer.pk, subscription_id=subscription.pk, now=RENEWAL + DAY
        )

    assert refresh(subscription).status == "past_due"
    assert renewal_invoice(subscription).status == "unpaid"


def test_pausing_a_past_due_subscription_ends_its_grace(customer, subscription, grace):
    billing.bill_due(now=RENEWAL)

    billing.subscription_pause(
        user_id=customer.pk, subscription_id=subscription.pk, now=RENEWAL + DAY
    )
    billing.bill_due(now=RENEWAL + 10 * DAY)

    subscription = refresh(subscription)
    assert (subscription.status, subscription.grace_ends_at) == ("paused", None)
    assert event_times(customer, "subscription.suspended") == []


def test_the_forecast_follows_grace_and_billing_does_what_it_said(
    customer, subscription, bronze, grace
):
    forecast = credit_forecast(user_id=customer.pk, now=START + DAY, days=90)

    # The renewal is short: past due, then suspended at the grace end; nothing more is charged.
    assert [(c.at, c.covered) for c in forecast.charges] == [(RENEWAL, False)]
    assert forecast.covered_until == RENEWAL

    for day in (31, 34, 36, 70, 91):
        billing.bill_due(now=START + day * DAY)
    issued = subscription.invoices.filter(period_index__gt=0).order_by("period_index")
    assert [(i.issued_at, i.status == "paid") for i in issued] == [(RENEWAL, False)]
    assert refresh(subscription).status == "suspended"
