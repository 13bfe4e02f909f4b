"""Credit moves only for an account whose primary phone is verified, whoever asks."""

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import PhoneNumber
from accounts.services import credit_recipient_get
from conftest import ApiClient
from core.exceptions import InvalidInput

from .factories import UserFactory

pytestmark = pytest.mark.django_db

NOT_VERIFIED = "has not verified its phone yet"


def test_a_customer_whose_primary_phone_is_not_verified_cannot_top_up():
    pending = UserFactory(phone_verified=False)
    client = ApiClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(pending)}")

    response = client.post("/api/v1/credit/top-up/", {"amount": "20"})

    assert response.status_code == 400
    assert NOT_VERIFIED in response.json()["message"]
    pending.refresh_from_db()
    assert pending.credit == 0


def test_staff_reaching_an_account_by_a_verified_second_phone_still_needs_the_primary_verified():
    staff, customer = UserFactory(is_staff=True), UserFactory(phone_verified=False)
    PhoneNumber.objects.create(user=customer, phone="+8801999000111", is_verified=True)

    with pytest.raises(InvalidInput, match=NOT_VERIFIED):
        credit_recipient_get(actor=staff, reference="+8801999000111")

    PhoneNumber.objects.filter(user=customer, is_primary=True).update(is_verified=True)
    assert credit_recipient_get(actor=staff, reference="+8801999000111") == customer
