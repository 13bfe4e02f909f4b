"""
Settings for the billing service.

Every value can be set from the environment (see the README's Configuration section).
Nothing secret has a production default: with DEBUG off, SECRET_KEY must be given.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_cache_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    normalized = value.strip().lower()
    if normalized in {"1", "true", "yes", "on"}:
        return True
    if normalized in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}.")


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}.") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# --- Core --------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=true for local development).")
    SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # django.contrib.admin, with the operator's dashboard as its home page (dashboard.sites).
    "dashboard.apps.BillingAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_apscheduler",
    "phonenumber_field",
    "core",
    "events",
    "accounts",
    "plans",
    "subscriptions",
    "invoices",
    "webhooks",
    "notices",
    "dashboard",
]

MIDDLEWARE = [
    # First: whatever fails below, nothing outside the admin answers an HTML error page.
    "core.middleware.JsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Accept-Language (en or bn) for anonymous requests; the JWT authentication then switches to
    # the account's own language (core.authentication).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
# Routes answer with and without the trailing slash themselves; never redirect.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database and cache -------------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        # A reused connection is checked (SELECT 1) before each request's first query: one round
        # trip a request, so a restarted database costs no failed request. Off saves it (a dropped
        # connection then fails one request, and is replaced for the next).
        conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The scheduler writes from several threads: take the write lock when a transaction begins
    # (no deadlocking upgrades), wait for it rather than fail, and let readers run meanwhile.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Local memory by default (one process); use CACHE_URL=redis://… when several processes serve
# requests, so throttles and OTP cooldowns are shared.
CACHES = {"default": django_cache_url.config(default="locmem://")}

# --- Auth ---------------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.PhoneBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 30, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens carry a hash of the password: changing it (password reset) revokes access tokens too.
    "CHECK_REVOKE_TOKEN": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
# Seconds the account behind a token (active? password unchanged? staff? language) is kept in the
# cache instead of read on every request (core.authentication); saving an account forgets it at
# once. 0 (the default) reads it every time. Only with a cache every process shares (Redis).
AUTH_USER_CACHE_SECONDS = env_int("AUTH_USER_CACHE_SECONDS", 0)

# --- Phones, OTP and SMS ------------------------------------------------------------------------

PHONENUMBER_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION", "BD").upper()
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "E164"

OTP_TTL_SECONDS = env_int("OTP_TTL_SECONDS", 300, minimum=1)
OTP_MAX_ATTEMPTS = 5
OTP_RESEND_COOLDOWN_SECONDS = env_int("OTP_RESEND_COOLDOWN_SECONDS", 60)
MAX_PHONES_PER_ACCOUNT = 5

# "console", "file", "locmem" or the dotted path of a class with send(phone, text).
SMS_BACKEND = env_str("SMS_BACKEND", "console")
SMS_FILE_PATH = env_str("SMS_FILE_PATH", str(BASE_DIR / "var" / "sms"))

# --- Credit -------------------------------------------------------------------------------------

# When false, only staff can add credit (to any customer, with the top-up's ``customer`` field).
ALLOW_SELF_TOP_UP = env_bool("ALLOW_SELF_TOP_UP", True)

# --- Billing ------------------------------------------------------------------------------------

# How long a billing "day" lasts: 86400 in production; a few seconds for a demo or an
# end-to-end test, so cycles pass while you watch. Copied into each subscription at purchase.
# Never longer than a real day: plan limits keep a plan's whole term within a datetime's range.
BILLING_DAY_SECONDS = env_int("BILLING_DAY_SECONDS", 86400, minimum=1, maximum=86400)
# Billing days a period's unpaid invoice may wait for credit while the service goes on (the
# subscription is past_due); 0 suspends at once. Never more than the period: its end ends it.
BILLING_GRACE_DAYS = env_int("BILLING_GRACE_DAYS", 0, minimum=0, maximum=3660)

# The invoice scheduler. It starts inside `runserver` and WSGI/ASGI server processes unless this
# is false (production: false for web workers, and `manage.py runscheduler` runs it alone).
SCHEDULER_AUTOSTART = env_bool("SCHEDULER_AUTOSTART", True)
# How often the scheduler picks up subscription changes made by other processes.
SCHEDULER_RECONCILE_SECONDS = env_int("SCHEDULER_RECONCILE_SECONDS", 2, minimum=1)
# How often a standby scheduler tries to take over from the one holding the lock.
SCHEDULER_STANDBY_SECONDS = env_int("SCHEDULER_STANDBY_SECONDS", 5, minimum=1)
SCHEDULER_WORKERS = env_int("SCHEDULER_WORKERS", 4, minimum=1)
# After a failed start the scheduler waits 1 s, then twice as long each time, up to this.
SCHEDULER_MAX_BACKOFF_SECONDS = env_int("SCHEDULER_MAX_BACKOFF_SECONDS", 300, minimum=1)

# --- Celery workers (optional) -------------------------------------------------------------------

# A broker (redis://… or amqp://…) moves the scheduler's work to `celery -A config worker`
# processes on any number of machines: billing jobs and the sweep enqueue tasks, the leader
# enqueues webhook and SMS relay rounds (invoices/tasks.py, invoices/background.py). Empty: the
# scheduler's process does it all, as without Celery.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
# At least once: a task is acknowledged when it has run, one a dying worker held runs again
# elsewhere, and a worker reserves one task at a time. The database makes the effects exactly
# once (the engine's row locks, one invoice per period; leases on deliveries and notices).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log like every other process (LOGGING)
CELERY_WORKER_SEND_TASK_EVENTS = False
# Billing and the relays queue apart, so a billing backlog (a catch-up) never holds deliveries
# up; a worker takes from both unless started with -Q.
CELERY_TASK_DEFAULT_QUEUE = "billing"
CELERY_TASK_QUEUES = {"billing": {}, "relays": {}}
CELERY_TASK_ROUTES = {"webhooks.*": {"queue": "relays"}, "notices.*": {"queue": "relays"}}
# Redis has no acknowledgements of its own: a task not acknowledged this many seconds after it
# was delivered is delivered again (its worker is taken for dead). Longer than any task runs: a
# billing batch takes about a second, a relay round at most 30 s plus one pass's sends.
_visibility_timeout = env_int("CELERY_VISIBILITY_TIMEOUT", 600, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _visibility_timeout,
    # Look for such tasks every tenth of the timeout (10 s at most), not every 100 s.
    "unacked_restore_interval": max(1, min(10, _visibility_timeout // 10)),
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": 5,
}
# Customers per task of the sweep (and of a new leader's catch-up) when workers bill.
BILLING_TASK_BATCH = env_int("BILLING_TASK_BATCH", 500, minimum=1, maximum=10000)
# Threads a billing run (bill_due: the sweep, the catch-up, `manage.py bill`) bills its pages with
# on PostgreSQL, each with its own database connection: while PostgreSQL writes one page, another
# thread renders the next. 1 = one thread (always so on SQLite and inside a transaction).
BILLING_WORKERS = env_int("BILLING_WORKERS", 2, minimum=1, maximum=16)

# The seller printed on invoice PDFs. The address may span lines: write "\n" between them. An
# empty tax id is left off the invoice.
INVOICE_SELLER_NAME = env_str("INVOICE_SELLER_NAME", "Subscription Billing")
INVOICE_SELLER_ADDRESS = env_str("INVOICE_SELLER_ADDRESS", "Dhaka, Bangladesh").replace("\\n", "\n")
INVOICE_SELLER_TAX_ID = env_str("INVOICE_SELLER_TAX_ID", "")

# --- Webhooks -----------------------------------------------------------------------------------

# A delivery succeeds when the receiver answers 2xx within this many seconds.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1, maximum=300)
# Seconds to wait before each retry of a failed delivery; after the last, the delivery has failed.
# The default (Standard Webhooks' schedule) covers three days.
WEBHOOK_RETRY_SCHEDULE = env_list(
    "WEBHOOK_RETRY_SCHEDULE",
    ["5", "300", "1800", "7200", "18000", "36000", "50400", "72000", "86400"],
)
if not all(delay.isdigit() for delay in WEBHOOK_RETRY_SCHEDULE):
    raise ImproperlyConfigured("WEBHOOK_RETRY_SCHEDULE must be comma-separated whole seconds.")
WEBHOOK_RETRY_SCHEDULE = [int(delay) for delay in WEBHOOK_RETRY_SCHEDULE]
# An endpoint whose deliveries have only failed for this long is disabled (three days).
WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WEBHOOK_DISABLE_AFTER_SECONDS", 3 * 86400, minimum=1)
# Development and tests only: allow endpoints on private, loopback and link-local addresses.
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", False)
# How often the relay looks for events committed by other processes (its own wake it at once).
WEBHOOK_POLL_SECONDS = env_int("WEBHOOK_POLL_SECONDS", 2, minimum=1)
# Deliveries sent at once (one thread each); a slow receiver holds one for at most the timeout.
WEBHOOK_WORKERS = env_int("WEBHOOK_WORKERS", 8, minimum=1, maximum=64)

# --- SMS notices ----------------------------------------------------------------------------------

# Renewal reminders go this many billing days before a period start the credit won't cover.
NOTICE_REMINDER_DAYS = env_list("NOTICE_REMINDER_DAYS", ["3", "1"])
if not all(days.isdigit() and int(days) > 0 for days in NOTICE_REMINDER_DAYS):
    raise ImproperlyConfigured("NOTICE_REMINDER_DAYS must be comma-separated whole days (> 0).")
NOTICE_REMINDER_DAYS = sorted({int(days) for days in NOTICE_REMINDER_DAYS}, reverse=True)
# Seconds to wait before each retry of a notice whose SMS failed; after the last, it has failed.
NOTICE_RETRY_SCHEDULE = env_list("NOTICE_RETRY_SCHEDULE", ["60", "300", "1800", "7200"])
if not all(delay.isdigit() for delay in NOTICE_RETRY_SCHEDULE):
    raise ImproperlyConfigured("NOTICE_RETRY_SCHEDULE must be comma-separated whole seconds.")
NOTICE_RETRY_SCHEDULE = [int(delay) for delay in NOTICE_RETRY_SCHEDULE]
# How often the notice relay looks for other processes' events and for reminders due.
NOTICE_POLL_SECONDS = env_int("NOTICE_POLL_SECONDS", 5, minimum=1)

# --- REST framework and OpenAPI -----------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["core.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # UTF-8 JSON only, at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes and 32 levels deep (a 4xx, never
    # a 500, for whatever else arrives).
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "core.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Client IP for throttling: REMOTE_ADDR unless NUM_PROXIES trusted proxies add X-Forwarded-For.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
    "DEFAULT_THROTTLE_RATES": {
        "otp_send_phone": env_str("THROTTLE_OTP_SEND_PHONE", "5/hour"),
        "otp_send_ip": env_str("THROTTLE_OTP_SEND_IP", "30/hour"),
        "otp_check_phone": env_str("THROTTLE_OTP_CHECK_PHONE", "20/hour"),
        "otp_check_ip": env_str("THROTTLE_OTP_CHECK_IP", "60/hour"),
        "login_phone": env_str("THROTTLE_LOGIN_PHONE", "10/min"),
        "login_ip": env_str("THROTTLE_LOGIN_IP", "60/min"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Subscription Billing API",
    "DESCRIPTION": (
        "Phone accounts with SMS OTP and JWT, a prepaid credit wallet, a plan catalogue, "
        "subscriptions and scheduler-generated invoices."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["core.schema.drop_slashless_duplicates"],
    "ENUM_NAME_OVERRIDES": {
        "ComponentStatusEnum": ["ok", "error"],
        "EventTypeEnum": "events.models.EventType",
    },
}

# --- The admin ----------------------------------------------------------------------------------

# The admin's branding: the header of every page, the browser tab's title, the home page's title.
ADMIN_SITE_HEADER = env_str("ADMIN_SITE_HEADER", "Subscription billing")
ADMIN_SITE_TITLE = env_str("ADMIN_SITE_TITLE", "Billing admin")
ADMIN_INDEX_TITLE = env_str("ADMIN_INDEX_TITLE", "Dashboard")

# --- Internationalisation, time, static files ---------------------------------------------------

# The languages of customers' SMS and of the API's messages; an account picks one (auth/me/).
LANGUAGES = [("en", "English"), ("bn", "বাংলা")]
DEFAULT_LANGUAGE = env_str("DEFAULT_LANGUAGE", "bn")
if DEFAULT_LANGUAGE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"DEFAULT_LANGUAGE must be one of {', '.join(dict(LANGUAGES))}.")
# Anonymous requests whose Accept-Language names none of LANGUAGES get this one.
LANGUAGE_CODE = DEFAULT_LANGUAGE
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `manage.py collectstatic` puts them (WhiteNoise serves them from there).
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security for production (behind TLS) -------------------------------------------------------

# A proxy in front terminates TLS and says so with X-Forwarded-Proto.
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HSTS: browsers use HTTPS only for this long. Off by default (a browser remembers it); the
# deploy checks warn when a TLS proxy is in front and it is still off (31536000 = one year).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Redirect plain HTTP to HTTPS here, when the proxy in front does not already. The health check
# stays reachable over plain HTTP (load balancers probe it so).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/?$"]
# A CSRF failure (only the admin uses CSRF) answers in the error shape outside the admin.
CSRF_FAILURE_VIEW = "core.views.csrf_failure"
# System checks to silence, e.g. "billing.W001" (see core/checks.py and `check --deploy`).
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", [])

# --- Logging ------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # APScheduler logs every run of every job at INFO; invoices.* says what billing did.
        "apscheduler": {"level": env_str("APSCHEDULER_LOG_LEVEL", "WARNING")},
    },
}
