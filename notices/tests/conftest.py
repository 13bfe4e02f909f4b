from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts import sms
from accounts.credit import credit_top_up
from accounts.models import User
from accounts.tests.factories import UserFactory
from invoices import billing
from notices.relay import NoticeRelay
from plans.models import Plan
from subscriptions.models import Subscription

# Periods of 30 days from here: period 1 starts on 13 Nov 2021.
START = datetime(2021, 10, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def customer(db) -> User:
    return UserFactory()


@pytest.fixture
def bronze(db) -> Plan:
    return Plan.objects.create(name="Globalnet Bronze", amount=Decimal("500.00"))


def top_up(user: User, amount: str) -> None:
    credit_top_up(user_id=user.pk, amount=Decimal(amount))


def purchase(user: User, plan: Plan) -> Subscription:
    return billing.subscription_purchase(user_id=user.pk, plan_id=plan.pk)


def drain(relay: NoticeRelay | None = None) -> int:
    """Run the relay until it has nothing left to send now; returns how many sends it tried."""
    relay = relay or NoticeRelay()
    tried = 0
    while done := relay.run_once():
        tried += done
    return tried


def texts_to(user: User) -> list[str]:
    return [message.text for message in sms.outbox if message.phone == str(user.phone)]
