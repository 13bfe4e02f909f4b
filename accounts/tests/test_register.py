import pytest

from accounts import sms
from accounts.models import PhoneNumber, User
from conftest import last_code

from .conftest import PHONE, PHONE_NATIONAL
from .factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
VERIFY = "/api/v1/auth/verify-otp/"


def register(client, phone=PHONE_NATIONAL, name="Ikram Khan", password=DEFAULT_PASSWORD):
    return client.post(REGISTER, {"phone": phone, "name": name, "password": password})


def test_register_creates_unverified_account_and_texts_a_code(api_client):
    response = register(api_client)

    assert response.status_code == 201
    assert response.json() == {"message": "Registration Successful"}
    user = User.objects.get(phone=PHONE)
    assert user.name == "Ikram Khan"
    assert user.check_password(DEFAULT_PASSWORD)
    assert list(user.phones.values_list("phone", "is_primary", "is_verified")) == [
        (PHONE, True, False)
    ]
    assert [message.phone for message in sms.outbox] == [PHONE]
    assert len(last_code(PHONE)) == 6


def test_register_then_verify_lets_the_customer_log_in(api_client):
    register(api_client)

    response = api_client.post(VERIFY, {"phone": PHONE_NATIONAL, "otp": last_code(PHONE)})

    assert response.status_code == 200
    assert response.json() == {"message": "Verification Successful"}
    login = api_client.post("/api/v1/auth/token/", {"phone": PHONE, "password": DEFAULT_PASSWORD})
    assert login.status_code == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "A", "password": DEFAULT_PASSWORD}, "phone"),
        ({"phone": "12345", "name": "A", "password": DEFAULT_PASSWORD}, "phone"),
        ({"phone": "not a phone", "name": "A", "password": DEFAULT_PASSWORD}, "phone"),
        ({"phone": 1516100100, "name": "A", "password": DEFAULT_PASSWORD}, "phone"),
        ({"phone": PHONE, "password": DEFAULT_PASSWORD}, "name"),
        ({"phone": PHONE, "name": "", "password": DEFAULT_PASSWORD}, "name"),
        ({"phone": PHONE, "name": "A"}, "password"),
        ({"phone": PHONE, "name": "A", "password": "123456"}, "password"),
        ({"phone": PHONE, "name": "A", "password": "password"}, "password"),
        ({"phone": PHONE, "name": "A", "password": "short1!"}, "password"),
    ],
)
def test_register_rejects_bad_input_with_field_errors(api_client, payload, field):
    response = api_client.post(REGISTER, payload)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"]
    assert body["message"]
    assert not User.objects.exists()
    assert sms.outbox == []


def test_register_rejects_a_phone_verified_on_another_account(api_client):
    UserFactory(phone=PHONE)

    response = register(api_client)

    assert response.status_code == 400
    assert response.json()["code"] == "phone_taken"
    assert "phone" in response.json()["errors"]
    assert User.objects.count() == 1


def test_register_rejects_a_phone_verified_as_a_secondary_phone(api_client):
    owner = UserFactory()
    PhoneNumber.objects.create(user=owner, phone=PHONE, is_verified=True)

    response = register(api_client)

    assert response.status_code == 400
    assert response.json()["code"] == "phone_taken"


def test_registering_again_once_the_code_expired_replaces_the_pending_account(
    api_client, time_machine
):
    time_machine.move_to("2026-01-01 10:00:00Z", tick=False)
    register(api_client, name="First Try")
    first_code = last_code(PHONE)
    time_machine.shift(300)

    response = register(api_client, name="Second Try", password="another-horse-77")

    assert response.status_code == 201
    user = User.objects.get(phone=PHONE)
    assert user.name == "Second Try"
    assert user.check_password("another-horse-77")
    assert User.objects.count() == 1
    second_code = last_code(PHONE)
    if second_code != first_code:
        stale = api_client.post(VERIFY, {"phone": PHONE, "otp": first_code})
        assert stale.json()["code"] == "otp_invalid"
    assert api_client.post(VERIFY, {"phone": PHONE, "otp": second_code}).status_code == 200


def test_registering_again_while_the_code_is_live_is_registration_pending(api_client, time_machine):
    time_machine.move_to("2026-01-01 10:00:00Z", tick=False)
    register(api_client)
    time_machine.shift(299)

    response = register(api_client, name="Impatient", password="another-horse-77")

    assert response.status_code == 409
    assert response.json()["code"] == "registration_pending"
    assert "phone" in response.json()["errors"]
    user = User.objects.get(phone=PHONE)
    assert user.name == "Ikram Khan"
    assert user.check_password(DEFAULT_PASSWORD)
    assert len(sms.outbox) == 1


def test_registering_again_within_the_cooldown_is_throttled(api_client, settings, time_machine):
    settings.OTP_TTL_SECONDS = 30  # shorter than the cooldown: the code expires first
    time_machine.move_to("2026-01-01 10:00:00Z", tick=False)
    register(api_client)
    time_machine.shift(40)

    response = register(api_client, name="Impatient")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert response["Retry-After"] == "20"
    assert User.objects.get(phone=PHONE).name == "Ikram Khan"


def test_a_failed_registration_does_not_start_the_cooldown(api_client):
    assert register(api_client, password="123").status_code == 400

    assert register(api_client).status_code == 201


def test_register_works_without_trailing_slash(api_client):
    response = api_client.post(
        REGISTER.rstrip("/"),
        {
            "phone": PHONE,
            "name": "A B",
            "password": DEFAULT_PASSWORD,
        },
    )

    assert response.status_code == 201
