"""Settings for the test suite: the base settings with fast hashing and in-memory SMS."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-used-only-by-the-test-suite")
# English unless a test asks for Bengali: the assertions on messages read as the code does.
os.environ.setdefault("DEFAULT_LANGUAGE", "en")

from .base import *  # noqa: F403

# Hashing a password properly takes ~100 ms; the tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SMS_BACKEND = "locmem"
# In-memory SMS and a per-process cache are what the tests want; the deploy checks would refuse
# them (core/checks.py), e.g. when a test imports config.wsgi.
SILENCED_SYSTEM_CHECKS = ["billing.E001", "billing.W001"]
SCHEDULER_AUTOSTART = False  # tests start the scheduler themselves when they need it
CELERY_BROKER_URL = ""  # the scheduler works in its own process; the Celery tests set a broker
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# Serve static files from the apps (no collectstatic in tests), like the development server.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# Threads of the scheduler tests close their connections after each job.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared memory: the scheduler tests write from several threads, and SQLite
    # only waits for a busy database (rather than failing) between separate connections to a file.
    import tempfile

    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"billing-test-{os.getpid()}.sqlite3")
    }
