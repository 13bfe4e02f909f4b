"""
The ledger lists lines in the order money moved, and no line is dated before the one before it,
even when the mover read its clock before it waited for the customer's lock (a billing run).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.credit import credit_adjust, credit_pay_invoice, credit_top_up
from accounts.models import User
from conftest import ApiClient

from .factories import UserFactory

LEDGER = "/api/v1/credit/transactions/"
NOON = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def ledger(user: User) -> list[dict]:
    client = ApiClient()
    client.force_authenticate(user)
    return client.get(LEDGER).json()["results"]


def assert_in_order_money_moved(lines: list[dict]) -> None:
    """Newest first: each line's balance follows from the one below it, and is not older."""
    for newer, older in pairwise(lines):
        assert Decimal(newer["balance_after"]) == Decimal(older["balance_after"]) + Decimal(
            newer["amount"]
        ), lines
        assert parse_datetime(newer["created_at"]) >= parse_datetime(older["created_at"]), lines


@pytest.mark.django_db
def test_a_payment_whose_clock_was_read_before_a_top_up_is_listed_after_it():
    user = UserFactory()
    credit_top_up(user_id=user.pk, amount=Decimal("100"), now=NOON)
    # A billing run read its clock at 12:00:30, then waited for the customer's lock, which a
    # top-up of 12:01 held: the top-up moved the money first.
    credit_top_up(user_id=user.pk, amount=Decimal("50"), now=NOON + timedelta(minutes=1))
    credit_pay_invoice(
        user_id=user.pk, amount=Decimal("30"), invoice_id=1, now=NOON + timedelta(seconds=30)
    )

    lines = ledger(user)

    assert [line["amount"] for line in lines] == ["-30.00", "50.00", "100.00"]
    assert [line["balance_after"] for line in lines] == ["120.00", "150.00", "100.00"]
    assert parse_datetime(lines[0]["created_at"]) == NOON + timedelta(minutes=1)
    assert_in_order_money_moved(lines)


@pytest.mark.django_db
def test_a_line_keeps_its_own_time_when_it_is_the_latest():
    user = UserFactory()
    credit_top_up(user_id=user.pk, amount=Decimal("100"), now=NOON)

    entry = credit_adjust(
        user_id=user.pk, amount=Decimal("-10"), by=None, note="fix", now=NOON + timedelta(hours=1)
    )

    assert entry.created_at == NOON + timedelta(hours=1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_payment_that_waited_for_a_concurrent_top_up_is_listed_after_it():
    user = UserFactory()
    credit_top_up(user_id=user.pk, amount=Decimal("100"))
    locked, paying, release = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def top_up() -> None:
        # Holds the customer's lock, as a top-up in progress does; writes its line last.
        try:
            with transaction.atomic():
                User.objects.select_for_update().get(pk=user.pk)
                locked.set()
                assert release.wait(10)
                credit_top_up(user_id=user.pk, amount=Decimal("50"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def pay() -> None:
        # A billing run: its clock is read, then it waits for the customer's lock.
        try:
            assert locked.wait(10)
            now = timezone.now()
            paying.set()
            credit_pay_invoice(user_id=user.pk, amount=Decimal("30"), invoice_id=1, now=now)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=top_up), threading.Thread(target=pay)]
    for thread in threads:
        thread.start()
    assert paying.wait(10)
    deadline = time.monotonic() + 10
    while not waiting_for_a_lock() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert waiting_for_a_lock()
    release.set()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors, errors

    lines = ledger(user)

    assert [line["amount"] for line in lines] == ["-30.00", "50.00", "100.00"]
    assert_in_order_money_moved(lines)


def waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock')"
        )
        return bool(cursor.fetchone()[0])
