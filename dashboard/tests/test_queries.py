"""The dashboard takes a bounded number of queries whatever the size of the business."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from accounts.models import CreditTransaction
from accounts.tests.factories import UserFactory
from dashboard.selectors import FORECAST_CANDIDATES, LIST_LIMIT
from events.models import Event
from invoices.models import BillingFailure, Invoice
from subscriptions.models import Subscription
from webhooks.models import WebhookDelivery, WebhookEndpoint

from .conftest import NOW, ago, buy, top_up

pytestmark = pytest.mark.django_db

# The session and the user; the figures (revenue by day and by month, top-ups, statuses now,
# status changes, plans, renewal candidates, endpoints, failures, leader, last run, errors,
# lag, jobs); the staff member's permissions (the admin's list of sections); and the forecast
# of each renewal candidate checked (three queries at most each).
MAX_QUERIES = 22 + 3 * FORECAST_CANDIDATES


def grow(business, *, customers: int) -> None:
    """Many more of everything: customers short at their renewal (more than the forecast
    checks), paid invoices, top-ups, failing endpoints, billing failures and jobs."""
    for n in range(customers):
        customer = UserFactory()
        top_up(customer, "500", ago(27) + timedelta(minutes=n))
        buy(customer, business.bronze, ago(27) + timedelta(minutes=n))
    subscription = Subscription.objects.get(user=business.amina)
    CreditTransaction.objects.bulk_create(
        CreditTransaction(
            user=business.amina, amount=Decimal("1.00"), kind="top_up", balance_after=1,
            created_at=ago(n % 365),
        )
        for n in range(500)
    )  # fmt: skip
    Invoice.objects.bulk_create(
        Invoice(
            subscription=subscription, user=business.amina, plan=business.bronze,
            period_index=100 + n,
            period_start=ago(n % 365), period_end=ago(n % 365), plan_name="Globalnet Bronze",
            amount=Decimal("500.00"), status="void", issued_at=ago(n % 365),
            number=f"INV-1999-{n:06d}", number_year=1999, number_seq=n + 1,
        )
        for n in range(500)
    )  # fmt: skip
    events = list(Event.objects.order_by("id")[:5])
    for n in range(LIST_LIMIT + 5):
        endpoint = WebhookEndpoint.objects.create(
            url=f"https://down{n}.example/", secret="whsec_x", failing_since=ago(1)
        )
        for event in events:
            WebhookDelivery.objects.create(event=event, endpoint=endpoint, status="failed")
    failing = UserFactory.create_batch(LIST_LIMIT + 5)
    BillingFailure.objects.bulk_create(
        BillingFailure(user=user, error="boom", first_failed_at=NOW, last_failed_at=NOW)
        for user in failing
    )
    DjangoJob.objects.bulk_create(
        DjangoJob(id=f"subscription-{n}", next_run_time=None if n % 3 else NOW, job_state=b"")
        for n in range(300)
    )
    DjangoJobExecution.objects.bulk_create(
        DjangoJobExecution(job_id=f"subscription-{n}", status="Executed", run_time=ago(n % 5))
        for n in range(300)
    )


def dashboard_queries(client, days: int) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/admin/?days={days}")
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.parametrize("days", [30, 365])
def test_the_dashboard_takes_bounded_queries_at_two_sizes(
    business, staff, client, time_machine, django_assert_max_num_queries, days
):
    time_machine.move_to(NOW, tick=False)
    client.force_login(staff)
    with django_assert_max_num_queries(MAX_QUERIES):
        small, page = dashboard_queries(client, days)
    assert "Emon" in page

    before = (Invoice.objects.count(), Event.objects.count(), Subscription.objects.count())
    grow(business, customers=FORECAST_CANDIDATES + 5)
    after = (Invoice.objects.count(), Event.objects.count(), Subscription.objects.count())
    with django_assert_max_num_queries(MAX_QUERIES):
        large, page = dashboard_queries(client, days)

    assert "The forecast checked the 10 earliest renewals" in page
    assert all(large >= 2 * small for small, large in zip(before, after, strict=True))
    # Only the forecast's checks grow, and they stop at FORECAST_CANDIDATES customers.
    assert large - small <= 3 * (FORECAST_CANDIDATES - 2)
