"""With a grace period, a period left unpaid is told once (past due), then its suspension."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings

from invoices import billing
from notices.models import Notice

from .conftest import START, drain, purchase, texts_to, top_up

pytestmark = pytest.mark.django_db(transaction=True)

BOUNDARY = START + timedelta(days=30)


@override_settings(BILLING_GRACE_DAYS=3)
def test_past_due_then_suspended_each_told_once(customer, bronze):
    with time_machine.travel(START, tick=False):
        top_up(customer, "500.00")
        subscription = purchase(customer, bronze)
    with time_machine.travel(BOUNDARY, tick=False):
        billing.bill_due()
        drain()
        drain()
    with time_machine.travel(BOUNDARY + timedelta(days=3), tick=False):
        billing.bill_due()
        drain()

    assert texts_to(customer) == [
        "Globalnet Bronze is unpaid. Top up 500.00 by 16 Nov to keep it.",
        "Globalnet Bronze is suspended: your credit is short. Top up 500.00 to resume it.",
    ]
    past_due = Notice.objects.get(kind=Notice.Kind.PAST_DUE)
    assert (past_due.subscription_id, past_due.period_index) == (subscription.pk, 1)
