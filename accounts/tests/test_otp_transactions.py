"""Services that check a code commit a wrong guess themselves: they refuse to run nested."""

import pytest
from django.db import transaction

from accounts import services

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "check",
    [
        lambda user: services.registration_verify(phone=str(user.phone), code="123456"),
        lambda user: services.phone_add_verify(user=user, phone="+8801917100100", code="123456"),
        lambda user: services.password_reset_confirm(
            phone=str(user.phone), code="123456", new_password="brand-new-secret-99"
        ),
    ],
)
def test_checking_a_code_inside_an_outer_transaction_is_refused(check, user):
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        check(user)


def test_registration_inside_an_outer_transaction_is_refused(db):
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.user_register(phone="+8801516100100", name="A", password="correct-horse-42")
