"""
One delivery over HTTP: signed per Standard Webhooks, sent only to public addresses, redirects
not followed, the answer read up to a small cap. Nothing here touches the database.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import standardwebhooks
from django.conf import settings
from django.utils import timezone

SCHEMES = {"http", "https"}
# How much of an answer is read (the rest is never downloaded) and how much of it is kept.
READ_LIMIT_BYTES = 4096
EXCERPT_CHARS = 500
USER_AGENT = "subscription-billing-webhooks/1"


class UrlRefused(Exception):
    """The URL may not receive webhooks (scheme, or an address that is not public)."""


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    excerpt: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.status_code is not None and 200 <= self.status_code < 300


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_public(url: str) -> list[str]:
    """
    The addresses ``url``'s host resolves to, all of them public; :class:`UrlRefused` if the
    scheme is not http(s), the host does not resolve, or any address is private, loopback,
    link-local or otherwise not global (unless ``WEBHOOK_ALLOW_PRIVATE_URLS``: then ``[]``).
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise UrlRefused("Only http and https URLs with a host can receive webhooks.")
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return []
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        raise UrlRefused(f"The host {host} does not resolve.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        if not _is_public(address):
            raise UrlRefused(
                f"The host {host} resolves to {address}, which is not a public address"
                " (private, loopback and link-local addresses are refused)."
            )
    return addresses


def url_refusal(url: str) -> str | None:
    """Why ``url`` may not receive webhooks, or None."""
    try:
        resolve_public(url)
    except UrlRefused as refusal:
        return str(refusal)
    return None


def signature_headers(*, message_id: str, secret: str, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of ``body``, signed now with ``secret`` (``whsec_…``)."""
    timestamp = datetime.fromtimestamp(int(timezone.now().timestamp()), UTC)
    signature = standardwebhooks.Webhook(secret).sign(message_id, timestamp, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def client() -> httpx.Client:
    # No proxies from the environment: the request goes to the address checked above.
    return httpx.Client(follow_redirects=False, trust_env=False)


def _excerpt(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def send(
    http: httpx.Client, *, url: str, message_id: str, secret: str, body: str, timeout: float
) -> Outcome:
    """POST one signed delivery; never raises for what the network or the receiver does."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        addresses = resolve_public(url)
    except UrlRefused as refusal:
        return Outcome(None, elapsed_ms(), error=str(refusal))
    target = httpx.URL(url)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signature_headers(message_id=message_id, secret=secret, body=body),
    }
    extensions = {}
    if addresses:
        # Connect to the address just checked, not to whatever a second lookup returns.
        headers["host"] = target.netloc.decode("ascii")
        # A pooled connection is keyed by address: never reuse one checked for another host.
        headers["connection"] = "close"
        extensions["sni_hostname"] = target.host
        target = target.copy_with(host=addresses[0])
    deadline = started + timeout
    try:
        with http.stream(
            "POST",
            target,
            content=body.encode(),
            headers=headers,
            timeout=timeout,
            extensions=extensions,
        ) as response:
            read = bytearray()
            for chunk in response.iter_bytes():
                read += chunk
                if len(read) >= READ_LIMIT_BYTES or time.monotonic() > deadline:
                    break
            status = response.status_code
    except httpx.TimeoutException:
        return Outcome(None, elapsed_ms(), error=f"No answer within {timeout:g} s.")
    except httpx.HTTPError as error:
        return Outcome(None, elapsed_ms(), error=f"{type(error).__name__}: {error}"[:500])
    latency = elapsed_ms()
    excerpt = _excerpt(bytes(read))
    if latency > timeout * 1000:
        return Outcome(status, latency, excerpt, f"The answer took longer than {timeout:g} s.")
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        return Outcome(status, latency, excerpt, f"Redirect to {location[:200]} not followed.")
    return Outcome(status, latency, excerpt)
