import pytest

from accounts import sms
from accounts.models import OneTimePassword, PhoneNumber, User
from conftest import last_code

from .conftest import PHONE, PHONE_NATIONAL
from .factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/auth/verify-otp/"
RESEND = "/api/v1/auth/resend-otp/"


@pytest.fixture
def registered(api_client, time_machine):
    time_machine.move_to("2026-03-01 09:00:00Z", tick=False)
    response = api_client.post(
        "/api/v1/auth/register/",
        {"phone": PHONE_NATIONAL, "name": "Ikram Khan", "password": DEFAULT_PASSWORD},
    )
    assert response.status_code == 201
    return User.objects.get(phone=PHONE)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def verify(client, code, phone=PHONE):
    return client.post(VERIFY, {"phone": phone, "otp": code})


def is_verified(phone=PHONE) -> bool:
    return PhoneNumber.objects.get(phone=phone).is_verified


def test_code_is_six_digits_and_stored_only_as_a_hash(registered):
    code = last_code(PHONE)
    stored = OneTimePassword.objects.get(phone=PHONE)

    assert len(code) == 6 and code.isdigit()
    assert code not in stored.code_hash
    assert len(stored.code_hash) == 64


def test_wrong_code_is_rejected(api_client, registered):
    response = verify(api_client, wrong(last_code(PHONE)))

    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"
    assert "otp" in response.json()["errors"]
    assert not is_verified()


def test_code_for_an_unknown_phone_is_invalid(api_client, db):
    response = verify(api_client, "123456", phone="01917100100")

    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"


@pytest.mark.parametrize("otp", ["12345", "1234567", "abcdef", "", None, 123.5])
def test_malformed_code_is_a_validation_error(api_client, registered, otp):
    response = api_client.post(VERIFY, {"phone": PHONE, "otp": otp}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "otp" in response.json()["errors"]


def test_code_expires_after_the_ttl(api_client, registered, time_machine):
    code = last_code(PHONE)
    time_machine.shift(300)

    response = verify(api_client, code)

    assert response.status_code == 400
    assert response.json()["code"] == "otp_expired"
    assert not is_verified()


def test_code_still_works_just_before_the_ttl(api_client, registered, time_machine):
    code = last_code(PHONE)
    time_machine.shift(299)

    assert verify(api_client, code).status_code == 200


def test_ttl_comes_from_the_setting(api_client, settings, time_machine, db):
    settings.OTP_TTL_SECONDS = 30
    time_machine.move_to("2026-03-01 09:00:00Z", tick=False)
    api_client.post(
        "/api/v1/auth/register/",
        {"phone": PHONE, "name": "Ikram Khan", "password": DEFAULT_PASSWORD},
    )
    code = last_code(PHONE)
    time_machine.shift(30)

    assert verify(api_client, code).json()["code"] == "otp_expired"


def test_five_wrong_tries_lock_the_code_even_against_the_right_one(api_client, registered):
    code = last_code(PHONE)
    for _ in range(5):
        assert verify(api_client, wrong(code)).json()["code"] == "otp_invalid"

    response = verify(api_client, code)

    assert response.status_code == 429
    assert response.json()["code"] == "otp_attempts_exceeded"
    assert not is_verified()


def test_four_wrong_tries_still_allow_the_right_code(api_client, registered):
    code = last_code(PHONE)
    for _ in range(4):
        verify(api_client, wrong(code))

    assert verify(api_client, code).status_code == 200
    assert is_verified()


def test_a_new_code_resets_the_attempts(api_client, registered, time_machine):
    for _ in range(5):
        verify(api_client, wrong(last_code(PHONE)))
    time_machine.shift(60)
    api_client.post(RESEND, {"phone": PHONE})

    assert verify(api_client, last_code(PHONE)).status_code == 200


def test_a_used_code_never_works_twice(api_client, registered):
    code = last_code(PHONE)
    assert verify(api_client, code).status_code == 200

    response = verify(api_client, code)

    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"


def test_resend_texts_a_new_code_and_the_old_one_stops_working(
    api_client, registered, time_machine
):
    old = last_code(PHONE)
    time_machine.shift(60)

    response = api_client.post(RESEND, {"phone": PHONE_NATIONAL})

    assert response.status_code == 200
    assert response.json()["message"]
    assert len(sms.outbox) == 2
    new = last_code(PHONE)
    if new != old:
        assert verify(api_client, old).json()["code"] == "otp_invalid"
    assert verify(api_client, new).status_code == 200


def test_resend_within_the_cooldown_is_throttled_with_retry_after(
    api_client, registered, time_machine
):
    time_machine.shift(15)

    response = api_client.post(RESEND, {"phone": PHONE})

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert response["Retry-After"] == "45"
    assert len(sms.outbox) == 1


def test_resend_for_an_unknown_phone_answers_the_same_and_sends_nothing(api_client, db):
    response = api_client.post(RESEND, {"phone": "01917100100"})

    assert response.status_code == 200
    assert sms.outbox == []


def test_resend_for_a_verified_phone_sends_nothing(api_client, registered, time_machine):
    verify(api_client, last_code(PHONE))
    time_machine.shift(60)

    assert api_client.post(RESEND, {"phone": PHONE}).status_code == 200
    assert len(sms.outbox) == 1


def test_resend_rejects_a_bad_phone(api_client, db):
    response = api_client.post(RESEND, {"phone": "abc"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
