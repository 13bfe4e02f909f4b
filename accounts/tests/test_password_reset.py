import pytest

from accounts import sms
from conftest import last_code

from .conftest import login
from .factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

RESET = "/api/v1/auth/password-reset/"
CONFIRM = "/api/v1/auth/password-reset/confirm/"
NEW_PASSWORD = "brand-new-secret-99"


@pytest.fixture
def reset_code(api_client, user, time_machine):
    time_machine.move_to("2026-04-01 10:00:00Z", tick=False)
    response = api_client.post(RESET, {"phone": str(user.phone)})
    assert response.status_code == 200
    return last_code(str(user.phone))


def confirm(client, user, code, new_password=NEW_PASSWORD):
    return client.post(
        CONFIRM, {"phone": str(user.phone), "otp": code, "new_password": new_password}
    )


def test_reset_sets_the_new_password(api_client, user, reset_code):
    response = confirm(api_client, user, reset_code)

    assert response.status_code == 200
    assert response.json()["message"]
    login(api_client, str(user.phone), NEW_PASSWORD)
    old = api_client.post(
        "/api/v1/auth/token/", {"phone": str(user.phone), "password": DEFAULT_PASSWORD}
    )
    assert old.status_code == 401


def test_reset_logs_out_every_session(api_client, user, time_machine):
    time_machine.move_to("2026-04-01 10:00:00Z", tick=False)
    sessions = [login(api_client, str(user.phone)) for _ in range(2)]
    api_client.post(RESET, {"phone": str(user.phone)})

    assert confirm(api_client, user, last_code(str(user.phone))).status_code == 200

    for pair in sessions:
        assert (
            api_client.post("/api/v1/auth/refresh/", {"refresh": pair["refresh"]}).status_code
            == 401
        )
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
        assert api_client.get("/api/v1/auth/me/").status_code == 401
    api_client.credentials()


def test_reset_for_an_unknown_phone_answers_the_same_and_sends_nothing(api_client, db):
    response = api_client.post(RESET, {"phone": "01917100100"})

    assert response.status_code == 200
    assert sms.outbox == []


def test_reset_request_is_throttled_by_the_cooldown(api_client, user, reset_code, time_machine):
    time_machine.shift(10)

    response = api_client.post(RESET, {"phone": str(user.phone)})

    assert response.status_code == 429
    assert response["Retry-After"] == "50"


def test_reset_with_a_wrong_code(api_client, user, reset_code):
    wrong = f"{(int(reset_code) + 1) % 1_000_000:06d}"

    response = confirm(api_client, user, wrong)

    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"
    login(api_client, str(user.phone))


def test_reset_with_an_expired_code(api_client, user, reset_code, time_machine):
    time_machine.shift(301)

    response = confirm(api_client, user, reset_code)

    assert response.status_code == 400
    assert response.json()["code"] == "otp_expired"


def test_reset_code_locks_after_five_wrong_tries(api_client, user, reset_code):
    wrong = f"{(int(reset_code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        confirm(api_client, user, wrong)

    response = confirm(api_client, user, reset_code)

    assert response.status_code == 429
    assert response.json()["code"] == "otp_attempts_exceeded"


def test_a_weak_new_password_is_invalid_and_keeps_the_code_usable(api_client, user, reset_code):
    response = confirm(api_client, user, reset_code, new_password="123456")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "new_password" in response.json()["errors"]
    assert confirm(api_client, user, reset_code).status_code == 200


def test_a_verification_code_cannot_reset_the_password(api_client, time_machine):
    time_machine.move_to("2026-04-01 10:00:00Z", tick=False)
    api_client.post(
        "/api/v1/auth/register/",
        {"phone": "01516100100", "name": "Ikram", "password": DEFAULT_PASSWORD},
    )
    code = last_code("+8801516100100")

    response = api_client.post(
        CONFIRM, {"phone": "+8801516100100", "otp": code, "new_password": NEW_PASSWORD}
    )

    assert response.json()["code"] == "otp_invalid"


@pytest.mark.parametrize("missing", ["phone", "otp", "new_password"])
def test_confirm_requires_every_field(api_client, db, missing):
    payload = {"phone": "+8801516100100", "otp": "123456", "new_password": NEW_PASSWORD}
    del payload[missing]

    response = api_client.post(CONFIRM, payload)

    assert response.status_code == 400
    assert missing in response.json()["errors"]
