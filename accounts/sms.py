"""
Outgoing SMS through a backend chosen by ``settings.SMS_BACKEND``, like Django's ``EMAIL_BACKEND``.

A real provider plugs in as a class with ``send(phone, text)`` named by its dotted path.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

BACKEND_ALIASES = {
    "console": "accounts.sms.ConsoleBackend",
    "file": "accounts.sms.FileBackend",
    "locmem": "accounts.sms.LocmemBackend",
}


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    text: str
    sent_at: datetime


class BaseBackend:
    """The interface a provider implements. ``phone`` is E.164; raise on failure."""

    def send(self, phone: str, text: str) -> None:
        raise NotImplementedError


class ConsoleBackend(BaseBackend):
    """Logs every message, so a developer can read the code from the server's output."""

    def send(self, phone: str, text: str) -> None:
        logger.info("SMS to %s: %s", phone, text)


class FileBackend(BaseBackend):
    """Appends ``<ISO datetime>\\t<E.164 phone>\\t<text>`` lines to ``SMS_FILE_PATH/sms.log``."""

    _lock = threading.Lock()

    def send(self, phone: str, text: str) -> None:
        directory = Path(settings.SMS_FILE_PATH)
        directory.mkdir(parents=True, exist_ok=True)
        line = f"{timezone.now().isoformat()}\t{phone}\t{text}\n"
        with self._lock, open(directory / "sms.log", "a", encoding="utf-8") as log:
            log.write(line)


outbox: list[SmsMessage] = []


class LocmemBackend(BaseBackend):
    """Keeps messages in ``accounts.sms.outbox`` for the tests."""

    def send(self, phone: str, text: str) -> None:
        outbox.append(SmsMessage(phone=phone, text=text, sent_at=timezone.now()))


def get_backend() -> BaseBackend:
    path = BACKEND_ALIASES.get(settings.SMS_BACKEND, settings.SMS_BACKEND)
    return import_string(path)()


def send_sms(*, phone: str, text: str) -> None:
    """Send one message now. Callers inside a transaction wrap this in ``on_commit``."""
    try:
        get_backend().send(str(phone), text)
    except Exception:
        # The code is still valid: the customer can ask for another one after the cooldown.
        logger.exception("Sending an SMS to %s failed", phone)
