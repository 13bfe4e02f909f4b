"""Who may top up whom: one service, used by the API's top-up and the admin's adjustment."""

import pytest

from accounts.services import credit_recipient_get
from core.exceptions import InvalidInput, PermissionDeniedError

from .factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_customer_tops_up_themselves(user):
    assert credit_recipient_get(actor=user, reference=None) == user


def test_a_customer_never_names_a_customer_even_themselves(user):
    with pytest.raises(PermissionDeniedError, match="Only staff"):
        credit_recipient_get(actor=user, reference=str(user.pk))


def test_self_top_up_can_be_switched_off_for_customers_only(user, settings):
    settings.ALLOW_SELF_TOP_UP = False
    staff = UserFactory(is_staff=True)

    with pytest.raises(PermissionDeniedError, match="made by staff"):
        credit_recipient_get(actor=user, reference=None)
    assert credit_recipient_get(actor=staff, reference=None) == staff
    assert credit_recipient_get(actor=staff, reference=str(user.phone)) == user


@pytest.mark.parametrize("customer_kwargs", [{"phone_verified": False}, {"is_active": False}])
def test_staff_never_reach_a_pending_or_deactivated_account(customer_kwargs):
    staff, customer = UserFactory(is_staff=True), UserFactory(**customer_kwargs)

    with pytest.raises(InvalidInput) as refused:
        credit_recipient_get(actor=staff, reference=str(customer.pk))

    assert refused.value.errors == {"customer": ["No active customer has this id or phone."]}
