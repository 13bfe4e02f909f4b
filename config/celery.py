"""
The Celery application: ``celery -A config worker`` runs the scheduler's work on any number of
machines when ``CELERY_BROKER_URL`` is set (Redis or RabbitMQ). Without a broker nothing here
runs: the scheduler bills and relays in its own process (see ``core.tasks``).

Settings come from Django's, ``CELERY_``-prefixed (``config/settings/base.py``). Tasks live in
each app's ``tasks.py`` and are found by ``autodiscover_tasks``.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _refuse_to_start_on_errors(**kwargs) -> None:
    """Like the web entry points and ``runscheduler``: with DEBUG off, a deployment mistake
    (e.g. an SMS backend that never reaches a phone) stops a worker before it takes any task.
    Celery's Django fix-up has set Django up by now (it connects to this signal first)."""
    from core.checks import refuse_to_start_on_errors

    refuse_to_start_on_errors()
