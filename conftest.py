"""Fixtures shared by every app's tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import TestCase
from rest_framework.test import APIClient

from accounts import sms


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgres: needs PostgreSQL (row locks under real concurrency)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Concurrency tests need a database with real row locks: on SQLite they are deselected
    # (not skipped); .ci/run runs the suite on PostgreSQL too, where they run.
    if connection.vendor == "postgresql":
        return
    kept, deselected = [], []
    for item in items:
        (deselected if item.get_closest_marker("postgres") else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(autouse=True)
def _fresh_cache_and_outbox() -> Iterator[None]:
    """Throttle counters, OTP cooldowns and sent SMS never leak from one test to the next."""
    cache.clear()
    sms.outbox.clear()
    yield
    cache.clear()
    sms.outbox.clear()


class ApiClient(APIClient):
    """An API client whose every request ends like a real one: its on-commit hooks (SMS) run."""

    def request(self, **kwargs: Any) -> Any:
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().request(**kwargs)


@pytest.fixture
def api_client() -> ApiClient:
    return ApiClient()


def last_code(phone: str) -> str:
    """The code in the last SMS sent to ``phone`` (E.164)."""
    for message in reversed(sms.outbox):
        if message.phone == phone:
            match = re.search(r"\b(\d{6})\b", message.text)
            assert match, message.text
            return match.group(1)
    raise AssertionError(f"no SMS was sent to {phone}")


def last_code_for(phone: str, purpose: str) -> str:
    """The code in the last SMS sent to ``phone`` (E.164) for ``purpose`` (an OTP purpose)."""
    from accounts.otp import MESSAGES

    pattern = re.escape(MESSAGES[purpose])
    pattern = pattern.replace(re.escape("{code}"), r"(\d{6})")
    pattern = pattern.replace(re.escape("{minutes}"), r"\d+")
    for message in reversed(sms.outbox):
        match = re.fullmatch(pattern, message.text)
        if message.phone == phone and match:
            return match.group(1)
    raise AssertionError(f"no SMS for {purpose} was sent to {phone}")


def at_once(*calls: Any) -> list[Any]:
    """
    Run each call in a thread of its own, all released at the same instant (a barrier); return
    their results in order. Each thread closes its database connection when done.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> Any:
        try:
            barrier.wait(timeout=10)
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def wait_for(condition: Any, timeout: float = 10.0, step: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; return whether it held."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def migrate(targets: list[tuple[str, str]]) -> Any:
    """Move the test database's schema to ``targets``; return the executor (for its states)."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor
