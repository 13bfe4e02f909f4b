"""Point this process's Celery app at a broker for one test (the suite runs without one)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.test import override_settings
from kombu import pools

from config.celery import app


def _drop_connections() -> None:
    # The app and Kombu keep pools of connections to the broker first published to.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def broker(url: str, *, eager: bool = False) -> Iterator[None]:
    """Within: ``CELERY_BROKER_URL`` is ``url`` (the scheduler enqueues), and the app publishes
    there; with ``eager``, a task runs where it is enqueued, as a worker would run it."""
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    _drop_connections()
    app.conf.update(broker_url=url, task_always_eager=eager, task_eager_propagates=True)
    try:
        with override_settings(CELERY_BROKER_URL=url):
            yield
    finally:
        _drop_connections()
        app.conf.update(saved)
