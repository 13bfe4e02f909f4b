from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.credit import credit_top_up
from accounts.models import User
from accounts.tests.factories import UserFactory
from conftest import ApiClient
from invoices.models import Invoice
from plans.models import Plan

# Seed 000's example purchase: 2021-10-14 → 2022-10-09 for 12 x 30 days.
START = datetime(2021, 10, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def customer(db) -> User:
    return UserFactory()


@pytest.fixture
def bronze(db) -> Plan:
    return Plan.objects.create(name="Globalnet Bronze", amount=Decimal("500.00"))


@pytest.fixture
def gold(db) -> Plan:
    return Plan.objects.create(
        name="Globalnet Gold", amount=Decimal("1200.00"), is_cancellable=True
    )


@pytest.fixture
def client(customer) -> ApiClient:
    client = ApiClient()
    client.force_authenticate(customer)
    return client


def top_up(user: User, amount: str, *, now: datetime | None = None) -> None:
    credit_top_up(user_id=user.pk, amount=Decimal(amount), now=now)


def balance(user: User) -> Decimal:
    user.refresh_from_db()
    return user.credit


def assert_books_balance(user: User) -> None:
    """The ledger adds up to the balance, every paid invoice has its payment, no period twice."""
    user.refresh_from_db()
    # Summed in Python: SQLite adds decimals up as floats (PostgreSQL's numeric is exact).
    ledger = list(user.credit_transactions.values_list("amount", flat=True))
    assert sum(ledger, Decimal("0")) == user.credit >= 0
    invoices = Invoice.objects.filter(user=user).select_related("payment")
    periods = Counter((invoice.subscription_id, invoice.period_index) for invoice in invoices)
    assert all(count == 1 for count in periods.values())
    for invoice in invoices:
        if invoice.status == Invoice.Status.PAID:
            assert invoice.payment.amount == -invoice.amount
            assert invoice.payment.invoice_id == invoice.pk
        else:
            assert invoice.payment is None
    paid = sum((i.amount for i in invoices if i.status == Invoice.Status.PAID), Decimal("0"))
    payments = user.credit_transactions.filter(kind="invoice_payment")
    assert paid == -sum(payments.values_list("amount", flat=True), Decimal("0"))
