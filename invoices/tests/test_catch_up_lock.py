"""The catch-up locks the customer's due subscriptions with written-out SQL (``_due_lock``): it
must pick exactly the subscriptions of the engine's rule ``_due(now)``, for every status,
boundary and grace period."""

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest

from invoices import billing
from subscriptions.models import Subscription

from .conftest import START, top_up

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
DHAKA = ZoneInfo("Asia/Dhaka")  # a caller's now need not be in UTC


@pytest.mark.parametrize("status", [choice for choice, _ in Subscription.Status.choices])
@pytest.mark.parametrize("boundary", ["passed", "now", "ahead", None])
@pytest.mark.parametrize("grace", [None, "passed", "now", "ahead"])
@pytest.mark.parametrize("zone", [UTC, DHAKA])
def test_the_written_out_lock_picks_the_engines_due_subscriptions(
    customer, bronze, gold, status, boundary, grace, zone
):
    top_up(customer, "100000", now=START)
    first = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    second = billing.subscription_purchase(user_id=customer.pk, plan_id=gold.pk, now=START)
    now = START + 10 * DAY
    at = {"passed": now - DAY, "now": now, "ahead": now + DAY, None: None}
    Subscription.objects.filter(pk=first.pk).update(
        status=status, next_boundary_at=at[boundary], grace_ends_at=at[grace]
    )
    Subscription.objects.filter(pk=second.pk).update(next_boundary_at=now - DAY)
    rule = list(
        Subscription.objects.filter(billing._due(now), user=customer)
        .order_by("id")
        .values_list("id", flat=True)
    )

    assert billing._due_lock(customer.pk, now.astimezone(zone)) == rule
    first_due = status in billing.LIVE and (
        "passed" in (boundary, grace) or "now" in (boundary, grace)
    )
    assert rule == ([first.pk] if first_due else []) + [second.pk]
