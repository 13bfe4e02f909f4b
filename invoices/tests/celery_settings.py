"""
Settings of the Celery worker processes that ``test_celery_workers.py`` starts: the test
settings on the database and broker the test gives them (``DATABASE_URL``, the test database;
``CELERY_BROKER_URL``), logging each task received and done.
"""

import os

from config.settings.test import *  # noqa: F403

CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
LOGGING["root"]["level"] = "INFO"  # noqa: F405
