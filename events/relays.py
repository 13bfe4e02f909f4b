"""
What every consumer of events that runs in the background shares (the webhook relay, the notice
relay): a thread that runs one pass after another, woken right after this process commits
events (``event_listen``) and every ``poll_seconds`` otherwise (other processes' events, the
clock); a failed pass is logged and waits for the next poll, so nothing loops hot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db import close_old_connections

from .models import Event
from .services import event_listen, event_unlisten

logger = logging.getLogger(__name__)


class EventRelay:
    """A background consumer of events. Subclasses set ``name`` and implement ``run_once``."""

    name = "event relay"

    def __init__(self, *, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> int:
        """One pass; returns how many items it handled."""
        raise NotImplementedError

    # A pass that handled this many goes on at once (more may be due); how long ``stop`` waits
    # for the pass in flight. Set by each subclass.
    batch_size: int
    stop_timeout: float

    def close(self) -> None:
        """Let go of what passes keep between them (``stop`` calls it)."""

    def start_in_background(self) -> None:
        self._stop.clear()
        event_listen(self._on_events)
        thread_name = self.name.replace(" ", "-")
        self._thread = threading.Thread(target=self._loop, name=thread_name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop after the pass in flight (its outcomes are recorded)."""
        event_unlisten(self._on_events)
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.stop_timeout)
        self._thread = None
        self.close()

    def _on_events(self, events: list[Event]) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                handled = self.run_once()
            except Exception:
                logger.exception(
                    "The %s failed; trying again in %s s", self.name, self.poll_seconds
                )
                handled = 0
            finally:
                close_old_connections()
            if handled >= self.batch_size:
                continue
            self._wake.wait(self.poll_seconds)
        close_old_connections()


R = TypeVar("R", bound=EventRelay)


class ProcessRelay(Generic[R]):
    """The one relay of a kind this process runs (the scheduler's leader starts and stops it)."""

    def __init__(self, factory: Callable[..., R]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._current: R | None = None

    def current(self) -> R | None:
        return self._current

    def start(self, **options: Any) -> R:
        """Start it once (later calls return the same one)."""
        with self._lock:
            if self._current is None:
                self._current = self._factory(**options)
                self._current.start_in_background()
                logger.info("%s started", self._current.name.capitalize())
            return self._current

    def stop(self) -> None:
        with self._lock:
            relay, self._current = self._current, None
        if relay is not None:
            relay.stop()
            logger.info("%s stopped", relay.name.capitalize())
