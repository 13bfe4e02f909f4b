"""The credit forecast: what billing will charge, found by the engine's own rules, unwritten."""

from datetime import timedelta
from decimal import Decimal

import pytest

from events.models import Event
from invoices import billing
from invoices.forecast import credit_forecast
from invoices.models import Invoice
from plans.models import Plan
from subscriptions.models import Subscription

from .conftest import START, balance, top_up

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def buy(customer, plan, at) -> Subscription:
    return billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk, now=at)


def charges_made(customer, after_id: int) -> list[tuple]:
    """The invoices billing issued since ``after_id``, as the forecast describes charges."""
    invoices = Invoice.objects.filter(user=customer, pk__gt=after_id).order_by("pk")
    return [
        (i.issued_at, i.subscription_id, i.plan_name, i.amount, i.status == "paid")
        for i in invoices
    ]


def as_made(forecast) -> list[tuple]:
    return [(c.at, c.subscription_id, c.plan_name, c.amount, c.covered) for c in forecast.charges]


def last_invoice_id() -> int:
    return Invoice.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.fixture
def weekly(db) -> Plan:
    return Plan.objects.create(
        name="Globalnet Weekly", amount=Decimal("150.00"), payment_cycle=7, total_valid_months=6
    )


def test_billing_later_charges_exactly_the_forecast(customer, bronze, weekly):
    top_up(customer, "1500", now=START)
    monthly = buy(customer, bronze, START)  # 500 every 30 days
    week = buy(customer, weekly, START + 3 * DAY)  # 150 every 7 days, 6 periods
    now = START + 5 * DAY
    before = last_invoice_id()

    forecast = credit_forecast(user_id=customer.pk, now=now, days=90)

    # 850 left: weekly charges at days 10, 17, 24, then the monthly at 30 (short: 400 < 500,
    # suspended, never charged again), weekly at 31 and 38, then it ends after 6 periods.
    assert forecast.balance == Decimal("850.00")
    assert [(c.at - START, c.subscription_id, c.covered) for c in forecast.charges] == [
        (10 * DAY, week.pk, True),
        (17 * DAY, week.pk, True),
        (24 * DAY, week.pk, True),
        (30 * DAY, monthly.pk, False),
        (31 * DAY, week.pk, True),
        (38 * DAY, week.pk, True),
    ]
    assert [c.balance_after for c in forecast.charges] == [
        Decimal(x) for x in ("700", "550", "400", "400", "250", "100")
    ]
    assert forecast.covered_until == START + 30 * DAY
    # Nothing was written: no invoice, no event, the subscriptions as they were.
    assert last_invoice_id() == before
    assert not Event.objects.filter(type="subscription.suspended").exists()
    monthly.refresh_from_db()
    assert (monthly.current_period_index, monthly.status) == (0, "active")

    # The clock moves on, billing runs now and then: it does exactly what was forecast.
    for day in (12, 29, 40, 95):
        billing.bill_due(now=START + day * DAY)
    assert charges_made(customer, before) == as_made(forecast)
    assert balance(customer) == forecast.charges[-1].balance_after


def test_the_forecast_counts_boundaries_billing_has_not_processed_yet(customer, bronze):
    top_up(customer, "1000", now=START)
    subscription = buy(customer, bronze, START)
    late = START + 65 * DAY  # two renewals (days 30 and 60) not billed yet: the scheduler was down
    before = last_invoice_id()

    forecast = credit_forecast(user_id=customer.pk, now=late, days=1)

    assert [(c.at, c.covered, c.balance_after) for c in forecast.charges] == [
        (START + 30 * DAY, True, Decimal("0.00")),
        (START + 60 * DAY, False, Decimal("0.00")),
    ]
    billing.subscription_bill(subscription_id=subscription.pk, now=late)
    assert charges_made(customer, before) == as_made(forecast)


def test_paused_and_ended_subscriptions_are_not_charged(customer, bronze, gold):
    top_up(customer, "5000", now=START)
    paused = buy(customer, bronze, START)
    cancelled = buy(customer, gold, START)
    billing.subscription_pause(user_id=customer.pk, subscription_id=paused.pk, now=START + DAY)
    billing.subscription_cancel(user_id=customer.pk, subscription_id=cancelled.pk, now=START + DAY)

    forecast = credit_forecast(user_id=customer.pk, now=START + 2 * DAY, days=366)

    assert forecast.charges == []
    assert forecast.covered_until is None
    assert forecast.balance == Decimal("3300.00")


def test_the_window_is_counted_in_billing_days(customer, bronze, settings):
    settings.BILLING_DAY_SECONDS = 60  # a demo's minute-long days, for subscriptions bought now
    top_up(customer, "5000", now=START)
    buy(customer, bronze, START)

    forecast = credit_forecast(user_id=customer.pk, now=START, days=90)

    minute = timedelta(minutes=1)
    assert [c.at for c in forecast.charges] == [START + k * 30 * minute for k in (1, 2, 3)]


def test_forecast_api(client, customer, bronze, time_machine):
    time_machine.move_to(START, tick=False)
    top_up(customer, "700", now=START)
    subscription = buy(customer, bronze, START)

    response = client.get("/api/v1/credit/forecast/")

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "balance": "200.00",
        "covered_until": "2021-11-13T09:00:00Z",
        "charges": [
            {
                "at": "2021-11-13T09:00:00Z",
                "subscription_id": subscription.pk,
                "plan_name": "Globalnet Bronze",
                "amount": "500.00",
                "balance_after": "200.00",
                "covered": False,
            }
        ],
    }
    assert client.get("/api/v1/credit/forecast?days=29").json()["charges"] == []


@pytest.mark.parametrize("days", ["0", "367", "-1", "many", "1.5"])
def test_forecast_api_refuses_a_bad_window(client, days):
    response = client.get(f"/api/v1/credit/forecast/?days={days}")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "days" in body["errors"]


def test_forecast_needs_a_token(api_client, db):
    assert api_client.get("/api/v1/credit/forecast/").status_code == 401


def test_forecast_queries_do_not_grow_with_subscriptions(
    client, customer, time_machine, django_assert_max_num_queries
):
    time_machine.move_to(START, tick=False)
    top_up(customer, "100000", now=START)
    for n in range(8):
        plan = Plan.objects.create(name=f"Plan {n}", amount=Decimal("10.00"), payment_cycle=n + 1)
        buy(customer, plan, START)

    with django_assert_max_num_queries(4):  # the token's user, the balance, the subscriptions
        response = client.get("/api/v1/credit/forecast/?days=366")

    assert len(response.json()["charges"]) > 8
