import pytest

from .factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"


def attempt_login(client, phone, ip="10.0.0.1", forwarded=None):
    extra = {"REMOTE_ADDR": ip}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(TOKEN, {"phone": phone, "password": "wrong-password"}, **extra)


def test_logins_are_limited_per_phone_with_retry_after(api_client, user, time_machine):
    time_machine.move_to("2026-06-01 12:00:00Z", tick=False)
    for _ in range(10):
        assert attempt_login(api_client, str(user.phone)).status_code == 401

    response = attempt_login(api_client, str(user.phone), ip="10.0.0.2")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) == 60
    # Another phone from the same address is not affected.
    assert attempt_login(api_client, "+8801911111111").status_code == 401


def test_phone_limit_counts_every_notation_of_the_number(api_client, time_machine):
    time_machine.move_to("2026-06-01 12:00:00Z", tick=False)
    for n in range(10):
        attempt_login(api_client, "01516100100" if n % 2 else "+880 1516-100100")

    assert attempt_login(api_client, "+8801516100100").status_code == 429


def test_the_phone_limit_lifts_after_the_window(api_client, user, time_machine):
    time_machine.move_to("2026-06-01 12:00:00Z", tick=False)
    for _ in range(11):
        attempt_login(api_client, str(user.phone))
    time_machine.shift(61)

    response = api_client.post(TOKEN, {"phone": str(user.phone), "password": DEFAULT_PASSWORD})

    assert response.status_code == 200


def test_logins_are_limited_per_ip(api_client, time_machine):
    time_machine.move_to("2026-06-01 12:00:00Z", tick=False)
    for n in range(60):
        assert attempt_login(api_client, f"+88019{n:08d}").status_code == 401

    assert attempt_login(api_client, "+8801812345678").status_code == 429
    assert attempt_login(api_client, "+8801812345678", ip="10.9.9.9").status_code == 401


def test_a_forged_forwarded_for_header_does_not_escape_the_ip_limit(api_client, time_machine):
    time_machine.move_to("2026-06-01 12:00:00Z", tick=False)
    for n in range(60):
        attempt_login(api_client, f"+88019{n:08d}", forwarded=f"192.0.2.{n}")

    response = attempt_login(api_client, "+8801812345678", forwarded="198.51.100.7")

    assert response.status_code == 429


def test_otp_sends_are_limited_per_phone_beyond_the_cooldown(api_client, time_machine):
    time_machine.move_to("2026-06-01 12:00:00Z", tick=False)
    statuses = []
    for _ in range(6):
        response = api_client.post("/api/v1/auth/password-reset/", {"phone": "01516100100"})
        statuses.append(response.status_code)
        time_machine.shift(61)

    assert statuses == [200] * 5 + [429]


def test_otp_checks_are_limited_per_phone(api_client, time_machine):
    time_machine.move_to("2026-06-01 12:00:00Z", tick=False)
    payload = {"phone": "01516100100", "otp": "000000"}
    statuses = [api_client.post("/api/v1/auth/verify-otp/", payload).status_code for _ in range(21)]

    assert statuses[:20] == [400] * 20
    assert statuses[20] == 429
