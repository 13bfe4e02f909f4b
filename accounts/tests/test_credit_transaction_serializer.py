"""CreditTransactionSerializer writes its output by hand (``entry_representation``, which every
move that records an event uses for its data): it must stay exactly what DRF's loop over the
fields gives, in any time zone."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers

from accounts.credit import credit_adjust, credit_top_up
from accounts.models import CreditTransaction
from accounts.serializers import CreditTransactionSerializer
from events.models import Event

from .factories import UserFactory

pytestmark = pytest.mark.django_db

Kind = CreditTransaction.Kind


def drf_loop(entry: CreditTransaction) -> dict:
    return dict(serializers.Serializer.to_representation(CreditTransactionSerializer(), entry))


def lines() -> list[CreditTransaction]:
    moment = datetime(2024, 3, 31, 23, 59, 59, 123456, tzinfo=UTC)
    return [
        CreditTransaction(
            id=7, amount=Decimal("150.5"), kind=Kind.TOP_UP, balance_after=Decimal("150.50"),
            created_at=moment,
        ),
        CreditTransaction(
            id=8, amount=Decimal("-99.99"), kind=Kind.INVOICE_PAYMENT, invoice_id=42,
            balance_after=Decimal("0"), created_at=moment.replace(microsecond=0),
        ),
        CreditTransaction(
            id=9, amount=Decimal("-1"), kind=Kind.ADJUSTMENT,
            balance_after=Decimal("9999999999.99"), created_at=moment,
        ),
        CreditTransaction(
            id=10, amount=Decimal("0.01"), kind=Kind.PRORATION_CREDIT,
            balance_after=Decimal("0.01"), created_at=moment,
        ),
    ]  # fmt: skip


@pytest.mark.parametrize("zone", ["UTC", "Asia/Dhaka", "America/St_Johns"])
def test_ledger_lines_render_as_drfs_loop_would(zone):
    with timezone.override(zone):
        for entry in lines():
            data = CreditTransactionSerializer(entry).data
            assert data == drf_loop(entry)
            assert list(data) == list(CreditTransactionSerializer().fields)


def test_recorded_events_carry_the_line_as_the_ledger_shows_it(settings):
    user = UserFactory()
    staff = UserFactory(is_staff=True)
    with timezone.override("Asia/Dhaka"):
        credit_top_up(user_id=user.pk, amount=Decimal("20.5"))
        credit_adjust(user_id=user.pk, amount=Decimal("-0.5"), by=staff, note="fix")
        told = list(Event.objects.filter(customer=user).order_by("sequence").values_list("data"))
        ledger = [
            drf_loop(entry) for entry in CreditTransaction.objects.filter(user=user).order_by("id")
        ]
    assert [data for (data,) in told] == ledger
    assert ledger[1]["amount"] == "-0.50" and ledger[1]["created_at"].endswith("+06:00")
