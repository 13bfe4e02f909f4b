"""Settings for the benchmarks: production-like (DEBUG off) plus the ceiling views."""

import os

os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-not-for-production-use")

from config.settings.base import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.urls"
SCHEDULER_AUTOSTART = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
LOGGING["loggers"]["django"]["level"] = "WARNING"  # noqa: F405
# The load comes from one address: rate limits would measure themselves.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {  # noqa: F405
    scope: "1000000/min"
    for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]  # noqa: F405
}
# No collectstatic for benchmarks: WhiteNoise looks the (unused) static files up by itself.
WHITENOISE_AUTOREFRESH = True
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Benchmarks send no SMS and run on one machine: the deploy checks about those don't apply.
SILENCED_SYSTEM_CHECKS = ["billing.E001", "billing.W001", "billing.W002"]
