"""Relays racing each other on PostgreSQL: each notice made once and sent once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine

from accounts import sms
from conftest import at_once
from invoices import billing
from notices.models import Notice
from notices.relay import NoticeRelay

from .conftest import START, drain, purchase, top_up

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_relays_at_once_make_and_send_each_notice_once(customer, bronze):
    with time_machine.travel(START, tick=False):
        top_up(customer, "500.00")
        purchase(customer, bronze)
    with time_machine.travel(START + timedelta(days=30), tick=False):
        billing.bill_due()  # suspended
        for amount in range(1, 31):
            top_up(customer, f"{amount}.00")
        relays = [NoticeRelay() for _ in range(3)]

        at_once(*(lambda relay=relay: drain(relay) for relay in relays))

    kinds = Counter(Notice.objects.values_list("kind", flat=True))
    assert kinds == {Notice.Kind.RECEIPT: 30, Notice.Kind.SUSPENDED: 1}
    texts = Counter(message.text for message in sms.outbox)
    assert len(sms.outbox) == 31
    assert all(count == 1 for count in texts.values())
    assert set(Notice.objects.values_list("status", flat=True)) == {Notice.Status.SENT}
