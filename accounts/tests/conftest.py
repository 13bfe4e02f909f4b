from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from conftest import ApiClient

from .factories import DEFAULT_PASSWORD, UserFactory

PHONE_NATIONAL = "01516100100"
PHONE = "+8801516100100"


@pytest.fixture
def user(db) -> User:
    return UserFactory()


@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


def login(client: APIClient, phone: str, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token/", {"phone": phone, "password": password})
    assert response.status_code == 200, response.json()
    return response.json()["token"]


@pytest.fixture
def auth_client(user: User) -> APIClient:
    client = ApiClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, str(user.phone))['access']}")
    return client
