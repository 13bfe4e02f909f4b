"""
The two phone takeover paths under real concurrency (PostgreSQL): whatever order requests come
in, a number ends verified only on the account whose owner received its code.
"""

from __future__ import annotations

from collections import Counter

import pytest

from accounts import sms
from accounts.models import OneTimePassword, PhoneNumber, User
from conftest import ApiClient, at_once, last_code_for

from .conftest import login
from .factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REGISTER = "/api/v1/auth/register/"
VERIFY = "/api/v1/auth/verify-otp/"
RESEND = "/api/v1/auth/resend-otp/"
ADD = "/api/v1/auth/add-phone-no/"
TOKEN = "/api/v1/auth/token/"
STRANGER_PASSWORD = "strangers-own-77"
Purpose = OneTimePassword.Purpose
ROUNDS = range(4)  # each round is one more chance for another interleaving


@pytest.fixture(autouse=True)
def _no_cooldown(settings):
    # The cooldown (a cache entry) would turn most racers away before the database decides.
    settings.OTP_RESEND_COOLDOWN_SECONDS = 0


def phone(n: int) -> str:
    return f"+88015161001{n:02d}"


def register(number: str, *, name: str, password: str) -> dict:
    response = ApiClient().post(REGISTER, {"phone": number, "name": name, "password": password})
    return {"status": response.status_code, **response.json()}


def verify(number: str, code: str, client: ApiClient | None = None) -> int:
    return (client or ApiClient()).post(VERIFY, {"phone": number, "otp": code}).status_code


def signed_in(user: User) -> ApiClient:
    client = ApiClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, str(user.phone))['access']}")
    return client


def logs_in(number: str, password: str) -> bool:
    return ApiClient().post(TOKEN, {"phone": number, "password": password}).status_code == 200


def holders(number: str) -> list[str]:
    rows = PhoneNumber.objects.filter(phone=number, is_verified=True).select_related("user")
    return [row.user.name for row in rows]


@pytest.mark.parametrize("n", ROUNDS)
def test_registrations_of_one_number_at_once_leave_one_account_and_its_code(n):
    number = phone(n)
    answers = at_once(
        *(
            lambda i=i: register(number, name=f"Racer {i}", password=f"racer-secret-{i}7")
            for i in range(4)
        )
    )

    assert Counter(answer["status"] for answer in answers) == {201: 1, 409: 3}, answers
    assert {a["code"] for a in answers if a["status"] == 409} == {"registration_pending"}
    winner = answers.index(next(a for a in answers if a["status"] == 201))
    assert User.objects.filter(phone=number).count() == 1
    assert verify(number, last_code_for(number, Purpose.REGISTRATION)) == 200
    assert holders(number) == [f"Racer {winner}"]
    assert logs_in(number, f"racer-secret-{winner}7")


@pytest.mark.parametrize("n", ROUNDS)
def test_a_registration_racing_the_owners_verification_never_takes_the_number(n):
    number = phone(n)
    assert register(number, name="Owner", password=DEFAULT_PASSWORD)["status"] == 201
    code = last_code_for(number, Purpose.REGISTRATION)

    verified, stranger = at_once(
        lambda: verify(number, code),
        lambda: register(number, name="Stranger", password=STRANGER_PASSWORD),
    )

    assert verified == 200
    assert (stranger["status"], stranger["code"]) in {
        (409, "registration_pending"),
        (400, "phone_taken"),
    }
    assert holders(number) == ["Owner"]
    assert logs_in(number, DEFAULT_PASSWORD)
    assert not logs_in(number, STRANGER_PASSWORD)


@pytest.mark.parametrize("n", ROUNDS)
def test_an_account_adding_a_number_as_it_is_registered_never_gets_it(n):
    attacker = UserFactory(name="Attacker")
    attacker_client = signed_in(attacker)
    number = phone(n)

    registered, added = at_once(
        lambda: register(number, name="Owner", password=DEFAULT_PASSWORD),
        lambda: attacker_client.post(ADD, {"phone": number}).status_code,
    )

    assert (registered["status"], added) == (201, 201)
    add_code = last_code_for(number, Purpose.ADD_PHONE)
    registration_code = last_code_for(number, Purpose.REGISTRATION)
    # The owner types the newest code the phone received, whichever it is.
    newest = sms.outbox[-1].text
    if add_code in newest and add_code != registration_code:
        assert verify(number, add_code) == 400
    assert verify(number, registration_code) == 200
    assert holders(number) == ["Owner"]
    assert verify(number, add_code, attacker_client) == 400
    assert holders(number) == ["Owner"]
    assert not attacker.phones.filter(phone=number).exists()


@pytest.mark.parametrize("n", ROUNDS)
def test_the_owners_resend_and_anothers_add_at_once_keep_both_codes(n):
    attacker_client = signed_in(UserFactory(name="Attacker"))
    number = phone(n)
    register(number, name="Owner", password=DEFAULT_PASSWORD)
    sms.outbox.clear()

    resent, added = at_once(
        lambda: ApiClient().post(RESEND, {"phone": number}).status_code,
        lambda: attacker_client.post(ADD, {"phone": number}).status_code,
    )

    assert (resent, added) == (200, 201)
    codes = OneTimePassword.objects.filter(phone=number)
    assert sorted(codes.values_list("purpose", "user__name")) == [
        ("add_phone", "Attacker"),
        ("registration", "Owner"),
    ]
    assert verify(number, last_code_for(number, Purpose.REGISTRATION)) == 200
    assert holders(number) == ["Owner"]


@pytest.mark.parametrize("n", ROUNDS)
def test_the_owner_and_an_adder_verifying_at_once_end_with_one_holder(n):
    adder = UserFactory(name="Adder")
    adder_client = signed_in(adder)
    number = phone(n)
    register(number, name="Owner", password=DEFAULT_PASSWORD)
    adder_client.post(ADD, {"phone": number})
    registration_code = last_code_for(number, Purpose.REGISTRATION)
    add_code = last_code_for(number, Purpose.ADD_PHONE)

    owner_status, adder_status = at_once(
        lambda: verify(number, registration_code),
        lambda: verify(number, add_code, adder_client),
    )

    # No deadlock and no 500: one of them holds the number, the other is refused.
    assert sorted([owner_status, adder_status]) == [200, 400]
    winner = "Owner" if owner_status == 200 else "Adder"
    assert holders(number) == [winner]
