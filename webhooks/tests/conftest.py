from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory
from conftest import ApiClient
from events.services import event_record
from webhooks import services
from webhooks.models import WebhookEndpoint


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived
    path: str = ""

    def verified(self, secret: str) -> dict[str, Any]:
        """The payload, once ``standardwebhooks`` verified its signature (as a receiver would)."""
        return standardwebhooks.Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """A real HTTP server in a thread: records every request, answers as ``respond`` says."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    # (status, body) for each request; None: 200 "ok".
    respond: Callable[[Received], tuple[int, bytes, dict[str, str]]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def payloads(self, secret: str) -> list[dict[str, Any]]:
        with self.lock:
            return [request.verified(secret) for request in self.requests]

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            received = Received(
                {name.lower(): value for name, value in self.headers.items()},
                self.rfile.read(length),
                time.monotonic(),
                self.path,
            )
            with state.lock:
                state.requests.append(received)
            status, body, headers = (state.respond or (lambda _: (200, b"ok", {})))(received)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            # The relay reads only the start of a long answer, then hangs up.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _private_urls_allowed(settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the receiver listens on 127.0.0.1
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 300, 1800]


@pytest.fixture
def endpoint(db, receiver) -> WebhookEndpoint:
    return services.endpoint_create(url=receiver.url)


@pytest.fixture
def customer(db) -> User:
    return UserFactory()


@pytest.fixture
def superuser_client(db) -> ApiClient:
    admin = User.objects.create_superuser("+8801711000001", "a-long-secret", name="Operator")
    client = ApiClient()
    client.force_authenticate(admin)
    return client


def record(customer: User, type: str = "credit.topped_up", *, now: datetime | None = None, **data):
    """An event, recorded as a change records it: in a transaction holding the customer's lock."""
    now = now or timezone.now()
    with transaction.atomic():
        User.objects.select_for_update().get(pk=customer.pk)
        return event_record(
            type=type, customer_id=customer.pk, data={"id": 1, **data}, occurred_at=now, now=now
        )
