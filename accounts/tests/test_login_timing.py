"""
A wrong password costs the same work whatever the number: one password hash, whether it is
verified, waits for its code (which must not show that someone is registering it) or is unknown.
"""

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher

from accounts.models import PhoneNumber

from .factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
PHONE = "+8801516100100"


class CountingHasher(MD5PasswordHasher):
    """The test suite's hasher, counting the hashes it computes (checks and new passwords)."""

    calls = 0

    def encode(self, password: str, salt: str) -> str:
        type(self).calls += 1
        return super().encode(password, salt)


@pytest.fixture
def hashes(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]

    def count(request) -> int:
        CountingHasher.calls = 0
        request()
        return CountingHasher.calls

    return count


def pending_registration():
    UserFactory(phone=PHONE, phone_verified=False)


def pending_registration_and_an_added_claim():
    pending_registration()
    PhoneNumber.objects.create(user=UserFactory(), phone=PHONE)


def added_by_a_verified_account():
    PhoneNumber.objects.create(user=UserFactory(), phone=PHONE)


def verified():
    UserFactory(phone=PHONE)


def verified_but_deactivated():
    UserFactory(phone=PHONE, is_active=False)


def deactivated_and_pending():
    UserFactory(phone=PHONE, phone_verified=False, is_active=False)


def unknown():
    pass


@pytest.mark.parametrize(
    "number",
    [
        unknown,
        verified,
        verified_but_deactivated,
        pending_registration,
        pending_registration_and_an_added_claim,
        added_by_a_verified_account,
        deactivated_and_pending,
    ],
)
def test_a_wrong_password_costs_one_hash_whatever_the_number(api_client, hashes, number):
    number()

    def attempt():
        response = api_client.post(TOKEN, {"phone": PHONE, "password": "wrong-password-1"})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"

    assert hashes(attempt) == 1


@pytest.mark.parametrize(
    ("number", "status"),
    [(pending_registration, 403), (added_by_a_verified_account, 403), (verified, 200)],
)
def test_the_right_password_costs_one_hash_too(api_client, hashes, number, status):
    number()

    def attempt():
        response = api_client.post(TOKEN, {"phone": PHONE, "password": DEFAULT_PASSWORD})
        assert response.status_code == status

    assert hashes(attempt) == 1
