"""Money under real concurrency (threads, PostgreSQL row locks)."""

from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from accounts.credit import credit_pay_invoice, credit_top_up
from accounts.models import CreditTransaction, User
from conftest import ApiClient
from core.exceptions import ApplicationError

from .conftest import login
from .factories import UserFactory
from .test_concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TOP_UP = "/api/v1/credit/top-up/"


def login_access(user: User) -> str:
    return login(ApiClient(), str(user.phone))["access"]


def assert_ledger_adds_up(user: User) -> None:
    user.refresh_from_db()
    entries = list(user.credit_transactions.order_by("created_at", "id"))
    assert sum(entry.amount for entry in entries) == user.credit
    running = Decimal("0")
    for entry in entries:  # each line's balance_after follows from the one before
        running += entry.amount
        assert entry.balance_after == running


def test_concurrent_top_ups_add_up_exactly():
    user = UserFactory()
    access = login_access(user)

    def top_up(client):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        return client.post(TOP_UP, {"amount": "10.01"}).status_code

    statuses = race(24, top_up)

    assert statuses == [200] * 24
    user.refresh_from_db()
    assert user.credit == Decimal("240.24")
    assert user.credit_transactions.count() == 24
    assert_ledger_adds_up(user)


def test_concurrent_requests_with_one_key_move_money_once():
    user = UserFactory()
    access = login_access(user)

    def top_up(client):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}", HTTP_IDEMPOTENCY_KEY="same")
        response = client.post(TOP_UP, {"amount": "50"})
        return response.status_code, response.json()["balance"]

    results = race(10, top_up)

    assert Counter(results) == {(200, "50.00"): 10}
    user.refresh_from_db()
    assert user.credit == Decimal("50.00")
    assert user.credit_transactions.count() == 1


def test_concurrent_payments_never_overdraw():
    user = UserFactory()
    credit_top_up(user_id=user.pk, amount=Decimal("100"))

    def pay(_client):
        try:
            credit_pay_invoice(user_id=user.pk, amount=Decimal("30"), invoice_id=1)
            return "paid"
        except ApplicationError as exc:
            return exc.code
        finally:
            connection.close()

    outcomes = race(8, pay)

    assert Counter(outcomes) == {"paid": 3, "insufficient_credit": 5}
    user.refresh_from_db()
    assert user.credit == Decimal("10.00")
    assert_ledger_adds_up(user)


def test_top_ups_racing_payments_keep_the_ledger_consistent():
    user = UserFactory()
    credit_top_up(user_id=user.pk, amount=Decimal("20"))

    def work(_client):
        index = next(counter)
        try:
            if index % 2:
                credit_top_up(user_id=user.pk, amount=Decimal("5"))
                return "top_up"
            credit_pay_invoice(user_id=user.pk, amount=Decimal("15"), invoice_id=index)
            return "paid"
        except ApplicationError:
            return "refused"
        finally:
            connection.close()

    counter = iter(range(100))
    race(16, work)

    assert_ledger_adds_up(user)
    total = CreditTransaction.objects.aggregate(total=Sum("amount"))["total"]
    user.refresh_from_db()
    assert total == user.credit >= 0
