import pytest

from accounts.models import PhoneNumber
from accounts.tests.conftest import login

from .factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/auth/me/"


def bearer(client, access, scheme="Bearer"):
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {access}")
    return client


def test_login_returns_a_token_pair_that_opens_me(api_client, user):
    response = api_client.post(TOKEN, {"phone": str(user.phone), "password": DEFAULT_PASSWORD})

    assert response.status_code == 200
    token = response.json()["token"]
    assert set(token) == {"refresh", "access"}
    me = bearer(api_client, token["access"]).get(ME)
    assert me.status_code == 200
    assert me.json()["id"] == user.pk


def test_login_accepts_the_national_notation(api_client):
    UserFactory(phone="+8801516100100")

    response = api_client.post(TOKEN, {"phone": "01516100100", "password": DEFAULT_PASSWORD})

    assert response.status_code == 200


def test_login_works_with_any_verified_phone_of_the_account(api_client, user):
    PhoneNumber.objects.create(user=user, phone="+8801917100100", is_verified=True)

    response = api_client.post(TOKEN, {"phone": "01917100100", "password": DEFAULT_PASSWORD})

    assert response.status_code == 200


def test_login_with_an_unverified_secondary_phone_is_refused(api_client, user):
    PhoneNumber.objects.create(user=user, phone="+8801917100100", is_verified=False)

    response = api_client.post(TOKEN, {"phone": "01917100100", "password": DEFAULT_PASSWORD})

    assert response.status_code == 403
    assert response.json()["code"] == "phone_not_verified"


@pytest.mark.parametrize(
    ("phone", "password"),
    [("+8801516100100", "wrong-password-1"), ("+8801999999999", DEFAULT_PASSWORD)],
)
def test_login_with_wrong_credentials_is_401(api_client, phone, password):
    UserFactory(phone="+8801516100100")

    response = api_client.post(TOKEN, {"phone": phone, "password": password})

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert "token" not in response.json()


def test_login_with_the_right_password_for_a_wrong_account_is_401(api_client, user):
    other = UserFactory()

    response = api_client.post(TOKEN, {"phone": str(other.phone), "password": "not-it-at-all"})

    assert response.status_code == 401


def test_login_of_a_deactivated_account_is_401(api_client, user):
    user.is_active = False
    user.save()

    response = api_client.post(TOKEN, {"phone": str(user.phone), "password": DEFAULT_PASSWORD})

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_login_of_an_unverified_account_is_403(api_client):
    pending = UserFactory(phone_verified=False)

    response = api_client.post(TOKEN, {"phone": str(pending.phone), "password": DEFAULT_PASSWORD})

    assert response.status_code == 403
    assert response.json()["code"] == "phone_not_verified"


def test_unverified_account_with_a_wrong_password_is_401_not_403(api_client):
    pending = UserFactory(phone_verified=False)

    response = api_client.post(TOKEN, {"phone": str(pending.phone), "password": "guess-guess-1"})

    assert response.status_code == 401


@pytest.mark.parametrize("payload", [{}, {"phone": "+8801700000000"}, {"password": "x"}])
def test_login_requires_phone_and_password(api_client, db, payload):
    response = api_client.post(TOKEN, payload)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_scheme_is_case_insensitive(api_client, user, scheme):
    access = login(api_client, str(user.phone))["access"]

    assert bearer(api_client, access, scheme).get(ME).status_code == 200


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer a b", "Bearer not-a-jwt", "Token abc", "Basic dXNlcjpwYXNz"]
)
def test_bad_authorization_headers_are_401_in_the_error_shape(api_client, db, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)

    response = api_client.get(ME)

    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"message", "code"}
    assert body["code"] in {"not_authenticated", "token_not_valid", "bad_authorization_header"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_access_token_expires_after_thirty_minutes(api_client, user, time_machine):
    time_machine.move_to("2026-05-01 12:00:00Z", tick=False)
    access = login(api_client, str(user.phone))["access"]
    bearer(api_client, access)
    time_machine.shift(29 * 60)
    assert api_client.get(ME).status_code == 200

    time_machine.shift(61)

    response = api_client.get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_refresh_rotates_and_blacklists_the_old_token(api_client, user):
    pair = login(api_client, str(user.phone))

    response = api_client.post(REFRESH, {"refresh": pair["refresh"]})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert body["refresh"] != pair["refresh"]
    assert bearer(api_client, body["access"]).get(ME).status_code == 200
    reused = api_client.post(REFRESH, {"refresh": pair["refresh"]})
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_not_valid"
    assert api_client.post(REFRESH, {"refresh": body["refresh"]}).status_code == 200


def test_refresh_token_expires_after_seven_days(api_client, user, time_machine):
    time_machine.move_to("2026-05-01 12:00:00Z", tick=False)
    pair = login(api_client, str(user.phone))
    time_machine.shift(7 * 24 * 3600 + 1)

    response = api_client.post(REFRESH, {"refresh": pair["refresh"]})

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


@pytest.mark.parametrize("refresh", ["garbage", "a.b.c"])
def test_refresh_with_an_invalid_token_is_401(api_client, db, refresh):
    response = api_client.post(REFRESH, {"refresh": refresh})

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_refresh_with_an_access_token_is_401(api_client, user):
    pair = login(api_client, str(user.phone))

    response = api_client.post(REFRESH, {"refresh": pair["access"]})

    assert response.status_code == 401


def test_refresh_without_a_token_is_400(api_client, db):
    response = api_client.post(REFRESH, {})

    assert response.status_code == 400
    assert response.json()["errors"] == {"refresh": ["This field is required."]}


def test_refresh_for_a_deactivated_account_is_401(api_client, user):
    pair = login(api_client, str(user.phone))
    user.is_active = False
    user.save()

    assert api_client.post(REFRESH, {"refresh": pair["refresh"]}).status_code == 401


def test_refresh_for_a_deleted_account_is_401(api_client, user):
    pair = login(api_client, str(user.phone))
    user.delete()

    assert api_client.post(REFRESH, {"refresh": pair["refresh"]}).status_code == 401


def test_logout_blacklists_the_refresh_token(api_client, user):
    pair = login(api_client, str(user.phone))
    bearer(api_client, pair["access"])

    response = api_client.post(LOGOUT, {"refresh": pair["refresh"]})

    assert response.status_code == 200
    assert response.json()["message"]
    refreshed = api_client.post(REFRESH, {"refresh": pair["refresh"]})
    assert refreshed.status_code == 401


def test_logout_requires_authentication(api_client, user):
    pair = login(api_client, str(user.phone))

    response = api_client.post(LOGOUT, {"refresh": pair["refresh"]})

    assert response.status_code == 401
    assert api_client.post(REFRESH, {"refresh": pair["refresh"]}).status_code == 200


def test_logout_without_a_refresh_token_is_400(api_client, user):
    bearer(api_client, login(api_client, str(user.phone))["access"])

    response = api_client.post(LOGOUT, {})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_logout_with_a_bad_or_used_token_is_401(api_client, user):
    pair = login(api_client, str(user.phone))
    bearer(api_client, pair["access"])
    api_client.post(LOGOUT, {"refresh": pair["refresh"]})

    assert api_client.post(LOGOUT, {"refresh": pair["refresh"]}).status_code == 401
    assert api_client.post(LOGOUT, {"refresh": "garbage"}).status_code == 401


def test_logout_cannot_revoke_another_customers_token(api_client, user):
    other = UserFactory()
    theirs = login(api_client, str(other.phone))
    bearer(api_client, login(api_client, str(user.phone))["access"])

    response = api_client.post(LOGOUT, {"refresh": theirs["refresh"]})

    assert response.status_code == 401
    assert api_client.post(REFRESH, {"refresh": theirs["refresh"]}).status_code == 200


def _signed(payload: dict, key: str) -> str:
    import jwt

    return jwt.encode(payload, key, algorithm="HS256")


@pytest.mark.parametrize("path", ["/api/v1/credit/", "/api/v1/subscriptions/", ME])
def test_an_expired_access_token_is_token_expired_on_every_route(
    api_client, user, time_machine, path
):
    time_machine.move_to("2026-05-01 12:00:00Z", tick=False)
    bearer(api_client, login(api_client, str(user.phone))["access"])
    time_machine.shift(31 * 60)

    response = api_client.get(path)

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert "refresh" in response.json()["message"]


def test_a_forged_expired_token_is_not_valid_rather_than_expired(api_client, user):
    forged = _signed(
        {"token_type": "access", "exp": 1_000_000_000, "jti": "x", "user_id": str(user.pk)},
        "not-the-secret-key-of-this-service-at-all",
    )

    response = bearer(api_client, forged).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_logout_with_an_expired_refresh_token_is_token_expired(api_client, user, time_machine):
    time_machine.move_to("2026-05-01 12:00:00Z", tick=False)
    old = login(api_client, str(user.phone))
    time_machine.shift(7 * 24 * 3600 + 1)
    bearer(api_client, login(api_client, str(user.phone))["access"])

    response = api_client.post(LOGOUT, {"refresh": old["refresh"]})

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
