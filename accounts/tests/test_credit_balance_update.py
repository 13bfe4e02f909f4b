"""The balance moves in one conditional update (``accounts.credit._balance_add``): cents stay
exact (SQLite adds them as floats), the limits hold to the cent, and a refusal says why with the
balance it saw and changes nothing."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.credit import _last_line_at, credit_adjust, credit_pay_invoice, credit_top_up
from accounts.models import MAX_BALANCE, User
from accounts.selectors import credit_balance
from core.exceptions import BalanceLimitExceeded, InsufficientCredit

from .factories import UserFactory

pytestmark = pytest.mark.django_db


def books(user) -> tuple[Decimal, list[Decimal]]:
    user.refresh_from_db()
    return user.credit, list(user.credit_transactions.order_by("id").values_list("balance_after"))


def test_cents_that_floats_cannot_hold_add_up_exactly(user):
    staff = UserFactory(is_staff=True)
    for cents in ("0.10", "0.20", "0.07", "1234567.89"):
        credit_top_up(user_id=user.pk, amount=Decimal(cents))
    credit_adjust(user_id=user.pk, amount=Decimal("-0.37"), by=staff, note="")

    entry = credit_pay_invoice(user_id=user.pk, amount=Decimal("1234567.89"), invoice_id=1)

    assert entry.balance_after == Decimal("0.00")
    assert books(user) == (
        Decimal("0.00"),
        [(Decimal(v),) for v in ("0.10", "0.30", "0.37", "1234568.26", "1234567.89", "0.00")],
    )


def test_the_maximum_is_reached_to_the_cent_and_not_passed(user):
    credit_top_up(user_id=user.pk, amount=MAX_BALANCE - Decimal("0.01"))

    with pytest.raises(BalanceLimitExceeded):
        credit_top_up(user_id=user.pk, amount=Decimal("0.02"))
    entry = credit_top_up(user_id=user.pk, amount=Decimal("0.01"))

    assert entry.balance_after == MAX_BALANCE
    assert books(user)[0] == MAX_BALANCE
    with pytest.raises(BalanceLimitExceeded):
        credit_top_up(user_id=user.pk, amount=Decimal("0.01"))
    assert books(user) == (MAX_BALANCE, [(MAX_BALANCE - Decimal("0.01"),), (MAX_BALANCE,)])


def test_a_refused_payment_reports_the_balance_it_saw(user):
    credit_top_up(user_id=user.pk, amount=Decimal("5.55"))

    with pytest.raises(InsufficientCredit) as refused:
        credit_pay_invoice(user_id=user.pk, amount=Decimal("5.56"), invoice_id=1)

    assert refused.value.status_code == 402
    assert (refused.value.needed, refused.value.balance) == (Decimal("5.56"), Decimal("5.55"))
    assert books(user) == (Decimal("5.55"), [(Decimal("5.55"),)])


def test_moving_a_missing_customers_credit_is_an_error_not_a_refusal(db):
    with pytest.raises(User.DoesNotExist):
        credit_top_up(user_id=987654321, amount=Decimal("1"))


def test_written_out_reads_equal_the_orms(user):
    moment = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    for cents in ("0.10", "0.20", "9999999.99"):
        credit_top_up(user_id=user.pk, amount=Decimal(cents), now=moment)

    assert credit_balance(user_id=user.pk) == User.objects.get(pk=user.pk).credit
    assert str(credit_balance(user_id=user.pk)) == "10000000.29"
    last = user.credit_transactions.order_by("-id").values_list("created_at", flat=True).first()
    assert _last_line_at(user.pk) == last == moment
    assert _last_line_at(UserFactory().pk) is None
