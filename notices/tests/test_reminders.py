# ruff: noqa: RUF001  (Bengali digits in the expected texts are meant)
"""Renewal reminders: NOTICE_REMINDER_DAYS billing days before a period start the credit won't
cover, counting the customer's other charges due before it; once per period and step."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from notices.models import Notice
from plans.models import Plan

from .conftest import START, drain, purchase, texts_to, top_up

pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)
BOUNDARY = START + 30 * DAY  # period 1 of a 30-day plan bought at START: 13 Nov


def test_reminders_go_three_and_one_billing_days_before_once_each(customer, bronze):
    with time_machine.travel(START, tick=False):
        top_up(customer, "500.00")
        subscription = purchase(customer, bronze)
    with time_machine.travel(BOUNDARY - 4 * DAY, tick=False):
        drain()
        assert texts_to(customer) == []  # not yet
    for at in (BOUNDARY - 3 * DAY, BOUNDARY - 2 * DAY, BOUNDARY - DAY, BOUNDARY - DAY / 2):
        with time_machine.travel(at, tick=False):
            drain()
            drain()  # a second pass, a restarted relay: nothing twice

    assert texts_to(customer) == [
        "Top up 500.00 to keep Globalnet Bronze after 13 Nov.",
        "Top up 500.00 to keep Globalnet Bronze after 13 Nov.",
    ]
    reminders = Notice.objects.filter(kind=Notice.Kind.REMINDER).order_by("created_at")
    assert [(n.subscription_id, n.period_index, n.days_before) for n in reminders] == [
        (subscription.pk, 1, 3),
        (subscription.pk, 1, 1),
    ]


def test_reminder_counts_other_charges_due_before(customer, bronze):
    silver = Plan.objects.create(name="Globalnet Silver", amount="300.00")
    with time_machine.travel(START, tick=False):
        top_up(customer, "1200.00")
        purchase(customer, bronze)  # 700 left
    with time_machine.travel(START + DAY, tick=False):
        purchase(customer, silver)  # 400 left; its period 1 starts a day after bronze's
    with time_machine.travel(BOUNDARY - DAY, tick=False):
        top_up(customer, "300.00")  # 700: covers bronze (500), then silver lacks 100
        drain()

    assert texts_to(customer)[-1] == "Top up 100.00 to keep Globalnet Silver after 14 Nov."
    assert Notice.objects.filter(kind=Notice.Kind.REMINDER).count() == 1


def test_no_reminder_when_the_credit_covers_it_or_the_customer_said_no(bronze):
    covered, unwilling = UserFactory(), UserFactory(notify_reminders=False)
    with time_machine.travel(START, tick=False):
        top_up(covered, "1000.00")
        top_up(unwilling, "500.00")
        purchase(covered, bronze)
        purchase(unwilling, bronze)
    with time_machine.travel(BOUNDARY - DAY, tick=False):
        drain()

    assert not Notice.objects.filter(kind=Notice.Kind.REMINDER).exists()


def test_bengali_reminder(bronze):
    customer = UserFactory(language="bn")
    with time_machine.travel(START, tick=False):
        top_up(customer, "500.00")
        purchase(customer, bronze)
    with time_machine.travel(BOUNDARY - DAY, tick=False):
        drain()

    assert texts_to(customer) == ["১৩ নভে-এর পরে Globalnet Bronze চালু রাখতে ৫০০.০০ টপ-আপ করুন।"]
