"""Idempotency-Key on money-moving writes, exercised through the credit top-up."""

from datetime import timedelta

import pytest
from django.db.models import F

from accounts.models import CreditTransaction
from accounts.tests.conftest import login
from accounts.tests.factories import UserFactory
from conftest import ApiClient
from core.idempotency import idempotency_keys_prune
from core.models import IdempotencyKey

pytestmark = pytest.mark.django_db

TOP_UP = "/api/v1/credit/top-up/"


def client_for(user) -> ApiClient:
    client = ApiClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, str(user.phone))['access']}")
    return client


@pytest.fixture
def customer(db):
    return UserFactory()


@pytest.fixture
def client(customer):
    return client_for(customer)


def top_up(client, amount="10.00", key="key-1", path=TOP_UP, method="post"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return getattr(client, method)(path, {"amount": amount}, **headers)


def test_a_retry_replays_the_first_response_and_moves_no_money(client, customer):
    first = top_up(client)
    second = top_up(client)

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json() == {"message": "Credit increased", "balance": "10.00"}
    assert second["Idempotent-Replayed"] == "true"
    assert CreditTransaction.objects.filter(user=customer).count() == 1
    customer.refresh_from_db()
    assert customer.credit == 10


def test_the_replay_shows_the_first_balance_even_after_other_top_ups(client, customer):
    top_up(client, key="a")
    top_up(client, amount="5", key="b")

    assert top_up(client, key="a").json()["balance"] == "10.00"


def test_the_slashless_route_is_the_same_request(client, customer):
    top_up(client)

    assert top_up(client, path=TOP_UP.rstrip("/")).status_code == 200
    assert CreditTransaction.objects.count() == 1


def test_a_different_body_with_the_same_key_is_409(client, customer):
    top_up(client)

    response = top_up(client, amount="99.00")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    customer.refresh_from_db()
    assert customer.credit == 10


def test_a_different_method_with_the_same_key_is_409(client):
    top_up(client)

    assert top_up(client, method="put").status_code == 409


def test_requests_without_a_key_are_not_deduplicated(client, customer):
    top_up(client, key=None)
    top_up(client, key=None)

    customer.refresh_from_db()
    assert customer.credit == 20


def test_keys_belong_to_one_customer(client, customer):
    other = client_for(UserFactory())
    top_up(client)

    response = top_up(other)

    assert response.status_code == 200
    assert response.json()["balance"] == "10.00"
    assert CreditTransaction.objects.count() == 2


def test_a_refusal_is_replayed_too(client, customer):
    first = top_up(client, amount="-5")
    second = top_up(client, amount="-5")

    assert first.status_code == second.status_code == 400
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"


def test_keys_expire_after_24_hours(client, customer):
    top_up(client)
    IdempotencyKey.objects.update(created_at=F("created_at") - timedelta(hours=24))

    response = top_up(client, amount="7.00")

    assert response.status_code == 200
    assert response.json()["balance"] == "17.00"


def test_expired_keys_are_pruned(client):
    top_up(client, key="old")
    created = IdempotencyKey.objects.get().created_at

    assert idempotency_keys_prune(now=created + timedelta(hours=23)) == 0
    assert idempotency_keys_prune(now=created + timedelta(hours=24)) == 1
    assert not IdempotencyKey.objects.exists()


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "tab\tkey", "é"])
def test_malformed_keys_are_400(client, customer, key):
    response = top_up(client, key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    customer.refresh_from_db()
    assert customer.credit == 0


def test_an_unexpected_error_forgets_the_key_so_a_retry_can_succeed(client, customer, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("accounts.apis.credit_top_up", crash)
    client.raise_request_exception = False
    assert top_up(client).status_code == 500
    monkeypatch.undo()

    response = top_up(client)

    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response


def test_a_replay_is_the_first_answer_byte_for_byte(client):
    # PostgreSQL's jsonb stored {"message", "balance"} as {"balance", "message"}; SQLite's JSON
    # text had other spacing: the replay said the same thing in other bytes.
    first = top_up(client)
    second = top_up(client)

    assert first.content == b'{"message":"Credit increased","balance":"10.00"}'
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"] == "application/json"


def test_a_replayed_refusal_is_the_first_answer_byte_for_byte(client):
    first = top_up(client, amount="-5")
    second = top_up(client, amount="-5")

    assert second.status_code == 400
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
