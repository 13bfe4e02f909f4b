"""ASGI entry point."""

import os

import django
from django.core.handlers.asgi import ASGIHandler

from core import runtime

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
django.setup(set_prefix=False)

# With DEBUG off, a production mistake (console SMS, no collected static files...) stops the
# server here, before it serves anyone or starts the scheduler.
from core.checks import refuse_to_start_on_errors  # noqa: E402

refuse_to_start_on_errors()

# Lets the invoices app start the scheduler in this process (SCHEDULER_AUTOSTART).
runtime.mark_server_process()
from invoices.scheduler import autostart  # noqa: E402

autostart()

application = ASGIHandler()
