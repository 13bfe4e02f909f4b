"""The events money records: a top-up and a staff adjustment, with their ledger line."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from accounts.credit import credit_adjust, credit_pay_invoice, credit_top_up
from core.exceptions import BalanceLimitExceeded, InsufficientCredit
from events.models import Event

from .factories import UserFactory

pytestmark = pytest.mark.django_db

TOP_UP = "/api/v1/credit/top-up/"
LEDGER = "/api/v1/credit/transactions/"
MOMENT = datetime(2024, 5, 2, 10, 30, tzinfo=UTC)


def told(user) -> list[tuple[int, str, datetime, dict]]:
    return list(
        Event.objects.filter(customer=user)
        .order_by("sequence")
        .values_list("sequence", "type", "occurred_at", "data")
    )


def test_a_top_up_through_the_api_records_credit_topped_up_with_its_ledger_line(auth_client, user):
    response = auth_client.post(TOP_UP, {"amount": "150.50"}, HTTP_IDEMPOTENCY_KEY="k1")

    assert response.status_code == 200
    line = auth_client.get(LEDGER).json()["results"][0]
    [(sequence, type_, occurred_at, data)] = told(user)
    assert (sequence, type_, data) == (1, "credit.topped_up", line)
    assert occurred_at == user.credit_transactions.get().created_at


def test_adjustments_record_credit_adjusted_either_sign(user):
    staff = UserFactory(is_staff=True)
    credit_adjust(user_id=user.pk, amount=Decimal("80"), by=staff, note="goodwill", now=MOMENT)
    credit_adjust(user_id=user.pk, amount=Decimal("-30"), by=staff, note="fee", now=MOMENT)

    events = told(user)
    assert [(sequence, type_, at) for sequence, type_, at, _ in events] == [
        (1, "credit.adjusted", MOMENT),
        (2, "credit.adjusted", MOMENT),
    ]
    assert [(data["amount"], data["balance_after"]) for *_, data in events] == [
        ("80.00", "80.00"),
        ("-30.00", "50.00"),
    ]


def test_an_invoice_payment_records_no_credit_event(user):
    # The billing engine tells it as invoice.paid, with the invoice.
    credit_top_up(user_id=user.pk, amount=Decimal("50"), now=MOMENT)
    with transaction.atomic():
        credit_pay_invoice(user_id=user.pk, amount=Decimal("20"), invoice_id=9, now=MOMENT)

    assert [type_ for _, type_, _, _ in told(user)] == ["credit.topped_up"]


def test_a_refused_move_records_nothing_and_leaves_the_callers_transaction_usable(user):
    credit_top_up(user_id=user.pk, amount=Decimal("9999999999.99"), now=MOMENT)

    with transaction.atomic():
        with pytest.raises(BalanceLimitExceeded):
            credit_top_up(user_id=user.pk, amount=Decimal("0.01"), now=MOMENT)
        with pytest.raises(InsufficientCredit):
            credit_adjust(user_id=user.pk, amount=Decimal("-1e10"), by=None, note="", now=MOMENT)
        # The caller (the Idempotency-Key's transaction) can still write its answer.
        credit_adjust(user_id=user.pk, amount=Decimal("-0.99"), by=None, note="", now=MOMENT)

    assert [type_ for _, type_, _, _ in told(user)] == ["credit.topped_up", "credit.adjusted"]


def test_a_top_up_rolled_back_by_its_caller_leaves_no_event(user):
    with pytest.raises(RuntimeError), transaction.atomic():
        credit_top_up(user_id=user.pk, amount=Decimal("10"), now=MOMENT)
        assert len(told(user)) == 1
        raise RuntimeError("the request failed after the top-up")

    assert told(user) == []
    user.refresh_from_db()
    assert user.credit == 0
