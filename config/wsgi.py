"""WSGI entry point: ``gunicorn config.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

from core import runtime

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
# Lets the invoices app start the scheduler in this process (SCHEDULER_AUTOSTART).
runtime.mark_server_process()

application = get_wsgi_application()
