"""A customer holds at most one live subscription per plan: ``_plan_taken`` (written out) must
answer as the ORM's filter would, for every status, a plan held or scheduled, and ``other_than``."""

import pytest
from django.db.models import Q

from invoices import billing
from subscriptions.models import Subscription

from .conftest import START, top_up

pytestmark = pytest.mark.django_db


def orm_rule(user_id: int, plan_id: int, other_than: int | None) -> bool:
    taken = Subscription.objects.filter(user_id=user_id, status__in=billing.LIVE).filter(
        Q(plan_id=plan_id) | Q(scheduled_plan_id=plan_id)
    )
    if other_than is not None:
        taken = taken.exclude(pk=other_than)
    return taken.exists()


@pytest.mark.parametrize("status", [choice for choice, _ in Subscription.Status.choices])
@pytest.mark.parametrize("scheduled", [False, True])
def test_the_written_out_check_is_the_orms_filter(customer, bronze, gold, status, scheduled):
    top_up(customer, "100000", now=START)
    held = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    Subscription.objects.filter(pk=held.pk).update(
        status=status, scheduled_plan=gold if scheduled else None
    )

    for plan in (bronze, gold):
        for other_than in (None, held.pk, held.pk + 1):
            expected = orm_rule(customer.pk, plan.pk, other_than)
            assert billing._plan_taken(customer.pk, plan.pk, other_than=other_than) is expected
    live = status in billing.LIVE
    assert billing._plan_taken(customer.pk, bronze.pk) is live
    assert billing._plan_taken(customer.pk, gold.pk) is (live and scheduled)
    assert billing._plan_taken(customer.pk, bronze.pk, other_than=held.pk) is False
