"""The migration that stores rendered responses converts the answers already stored."""

from collections.abc import Iterator

import pytest
from django.db import connection

from accounts.tests.factories import UserFactory
from conftest import migrate
from core.models import IdempotencyKey

BEFORE = [("core", "0001_initial")]
AFTER = [("core", "0002_idempotency_key_stores_rendered_response")]


@pytest.fixture
def before_rendering(transactional_db) -> Iterator[type]:
    """IdempotencyKey as it was (data as JSON); the schema is back to the latest after."""
    executor = migrate(BEFORE)
    try:
        yield executor.loader.project_state(BEFORE).apps.get_model("core", "IdempotencyKey")
    finally:
        migrate(executor.loader.graph.leaf_nodes())


def test_stored_answers_are_rendered_as_the_api_renders_them(before_rendering):
    user = UserFactory()
    old = before_rendering
    answered = old.objects.create(
        user_id=user.pk,
        key="answered",
        fingerprint="f" * 64,
        response_status=200,
        response_body={"message": "Crédit increased\u2028", "balance": "10.00"},
    )
    old.objects.create(user_id=user.pk, key="unanswered", fingerprint="f" * 64)

    migrate(AFTER)

    record = IdempotencyKey.objects.get(pk=answered.pk)
    keys = ("message", "balance") if connection.vendor == "sqlite" else ("balance", "message")
    body = {"message": '"Crédit increased\\u2028"', "balance": '"10.00"'}
    expected = "{" + ",".join(f'"{key}":{body[key]}' for key in keys) + "}"
    assert bytes(record.response_content) == expected.encode()
    assert record.response_content_type == "application/json"
    assert IdempotencyKey.objects.get(key="unanswered").response_content is None
