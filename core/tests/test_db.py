from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.credit import credit_top_up
from accounts.models import PhoneNumber, User
from core.db import violates

pytestmark = pytest.mark.django_db


def test_violates_names_the_unique_constraint_that_failed() -> None:
    User.objects.create_user("+8801711000001", "pw-xyz-123", name="A", phone_verified=True)
    other = User.objects.create_user("+8801711000002", "pw-xyz-123", name="B")
    with pytest.raises(IntegrityError) as info, transaction.atomic():
        PhoneNumber.objects.create(user=other, phone="+8801711000001", is_verified=True)
    assert violates(info.value, PhoneNumber, "accounts_phone_verified_once")
    assert not violates(info.value, PhoneNumber, "accounts_phone_once_per_user")


def test_violates_names_the_check_constraint_that_failed() -> None:
    user = User.objects.create_user("+8801711000001", "pw-xyz-123", name="A")
    with pytest.raises(IntegrityError) as info, transaction.atomic():
        User.objects.filter(pk=user.pk).update(credit=-1)
    assert violates(info.value, User, "accounts_user_credit_not_negative")
    assert not violates(info.value, User, "accounts_user_credit_within_limit")


def test_a_protected_row_is_not_a_constraint_violation() -> None:
    user = User.objects.create_user("+8801711000001", "pw-xyz-123", name="A", phone_verified=True)
    credit_top_up(user_id=user.pk, amount=Decimal("5.00"))
    with pytest.raises(IntegrityError) as info, transaction.atomic():
        user.delete()
    assert not violates(info.value, PhoneNumber, "accounts_phone_verified_once")
