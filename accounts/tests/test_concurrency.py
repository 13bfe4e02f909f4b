"""Races on OTP attempts, token rotation and the phone limit, with real threads on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.models import OneTimePassword, PhoneNumber
from accounts.otp import hash_code
from conftest import ApiClient

from .conftest import login
from .factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(count: int, request: Callable[[ApiClient], object]) -> list:
    """Run ``request`` from ``count`` threads released at the same instant."""
    barrier = threading.Barrier(count)

    def worker(_: int):
        client = ApiClient()
        try:
            barrier.wait(timeout=10)
            return request(client)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))


def test_concurrent_wrong_guesses_are_all_counted(time_machine):
    user = UserFactory(phone_verified=False)
    phone = str(user.phone)
    OneTimePassword.objects.create(
        phone=phone,
        purpose=OneTimePassword.Purpose.REGISTRATION,
        user=user,
        code_hash=hash_code(user_id=user.pk, phone=phone, purpose="registration", code="111111"),
        created_at="2030-01-01T00:00:00Z",
        expires_at="2030-01-01T00:05:00Z",
    )
    time_machine.move_to("2030-01-01T00:01:00Z", tick=False)

    codes = race(
        10,
        lambda client: client.post(
            "/api/v1/auth/verify-otp/", {"phone": phone, "otp": "222222"}
        ).json()["code"],
    )

    assert Counter(codes) == {"otp_invalid": 5, "otp_attempts_exceeded": 5}
    assert OneTimePassword.objects.get(phone=phone).attempts == 5


def test_a_refresh_token_rotates_once_under_a_race():
    user = UserFactory()
    refresh = login(ApiClient(), str(user.phone))["refresh"]

    statuses = race(
        8, lambda client: client.post("/api/v1/auth/refresh/", {"refresh": refresh}).status_code
    )

    assert sorted(statuses) == [200] + [401] * 7


def test_concurrent_adds_never_pass_the_phone_limit():
    user = UserFactory()
    for n in range(3):
        PhoneNumber.objects.create(user=user, phone=f"+88018{n:08d}")
    access = login(ApiClient(), str(user.phone))["access"]
    numbers = iter(f"+88019{n:08d}" for n in range(6))
    lock = threading.Lock()

    def add(client: ApiClient) -> str:
        with lock:
            number = next(numbers)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        response = client.post("/api/v1/auth/add-phone-no/", {"phone": number})
        return response.json().get("code", "created")

    outcomes = race(6, add)

    assert Counter(outcomes) == {"created": 1, "phone_limit_reached": 5}
    assert user.phones.count() == 5
