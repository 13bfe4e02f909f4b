"""
Production mistakes caught at start, not in front of a customer.

Django's system checks framework runs these with ``manage.py check --deploy``, and the WSGI and
ASGI entry points run every deploy check when DEBUG is off and refuse to start on an error
(:func:`refuse_to_start_on_errors`). Each message says what to set. A check that does not apply
to a deployment can be silenced with ``SILENCED_SYSTEM_CHECKS`` (e.g. ``billing.W001``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core import checks
from django.core.management import call_command
from django.utils.module_loading import import_string

# SMS backends that never reach a phone (aliases and their classes in accounts.sms).
SMS_BACKENDS_FOR_DEVELOPMENT = {
    "console": "prints codes to the server's log",
    "accounts.sms.ConsoleBackend": "prints codes to the server's log",
    "locmem": "keeps codes in the process's memory",
    "accounts.sms.LocmemBackend": "keeps codes in the process's memory",
}
SMS_ALIASES = {"console", "file", "locmem"}
LOCMEM_CACHE = "django.core.cache.backends.locmem.LocMemCache"
DUMMY_CACHE = "django.core.cache.backends.dummy.DummyCache"
# Static files that pages need: the API docs (Swagger UI, local assets) and the admin.
STATIC_SENTINELS = (
    "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
    "admin/css/base.css",
)


@checks.register(checks.Tags.security, deploy=True)
def check_sms_backend(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list:
    backend = settings.SMS_BACKEND
    if backend in SMS_BACKENDS_FOR_DEVELOPMENT:
        return [
            checks.Error(
                f"SMS_BACKEND is {backend!r}: it {SMS_BACKENDS_FOR_DEVELOPMENT[backend]}, so "
                "verification codes never reach customers and nobody can register or reset a "
                "password.",
                hint="Set SMS_BACKEND to the dotted path of your SMS provider's backend "
                "(a class with send(phone, text)), or to 'file' if another process sends "
                "the lines of SMS_FILE_PATH/sms.log.",
                id="billing.E001",
            )
        ]
    if backend not in SMS_ALIASES:
        try:
            import_string(backend)
        except ImportError as exc:
            return [
                checks.Error(
                    f"SMS_BACKEND {backend!r} can't be imported ({exc}): every code would fail "
                    "to send.",
                    hint="Set SMS_BACKEND to the dotted path of an importable class.",
                    id="billing.E002",
                )
            ]
    return []


@checks.register(checks.Tags.caches, deploy=True)
def check_shared_cache(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list:
    backend = settings.CACHES.get("default", {}).get("BACKEND")
    if backend == DUMMY_CACHE:
        return [
            checks.Error(
                "The default cache is the dummy cache: rate limits on logins and codes, and the "
                "code resend cooldown, do nothing.",
                hint="Set CACHE_URL to a shared cache, e.g. redis://127.0.0.1:6379/0.",
                id="billing.E003",
            )
        ]
    if backend == LOCMEM_CACHE:
        return [
            checks.Warning(
                "The default cache is local memory: each server process counts rate limits "
                "and code resend cooldowns on its own, so N processes allow N times the limits.",
                hint="Set CACHE_URL to a shared cache, e.g. redis://127.0.0.1:6379/0 (or "
                "silence billing.W001 if one process serves every request).",
                id="billing.W001",
            )
        ]
    return []


def _are_missing(paths: list[str]) -> str:
    return f"{', '.join(paths)} {'is' if len(paths) == 1 else 'are'} missing"


@checks.register(checks.Tags.staticfiles, deploy=True)
def check_static_files_collected(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list:
    root = settings.STATIC_ROOT
    hint = "Run `manage.py collectstatic --noinput` (it fills STATIC_ROOT) before starting."
    if isinstance(staticfiles_storage, ManifestFilesMixin):
        # Pages ask the manifest for each file's hashed name: without it, a 500.
        missing = []
        for path in STATIC_SENTINELS:
            try:
                staticfiles_storage.stored_name(path)
            except ValueError:
                missing.append(path)
        if missing:
            return [
                checks.Error(
                    f"Static files have not been collected into STATIC_ROOT ({root}): "
                    f"{_are_missing(missing)} from the manifest, so /api/docs/ and the admin "
                    "answer 500.",
                    hint=hint,
                    id="billing.E004",
                )
            ]
        return []
    if getattr(settings, "WHITENOISE_USE_FINDERS", False):
        return []  # WhiteNoise serves them from the apps' folders, as in development
    missing = [path for path in STATIC_SENTINELS if not staticfiles_storage.exists(path)]
    if missing:
        return [
            checks.Warning(
                f"Static files have not been collected into STATIC_ROOT ({root}): "
                f"{_are_missing(missing)}, so /api/docs/ and the admin show no styles or "
                "scripts.",
                hint=hint,
                id="billing.W002",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_hsts_behind_tls_proxy(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list:
    if settings.SECURE_PROXY_SSL_HEADER and not settings.SECURE_HSTS_SECONDS:
        return [
            checks.Warning(
                "BEHIND_TLS_PROXY is on but HSTS is off: a browser that once reached the "
                "service over HTTPS may still be sent to plain HTTP, where tokens and the "
                "admin's session can be read.",
                hint="Set SECURE_HSTS_SECONDS (31536000 is one year; start lower while trying "
                "it) and SECURE_HSTS_INCLUDE_SUBDOMAINS if every subdomain serves HTTPS.",
                id="billing.W003",
            )
        ]
    return []


def refuse_to_start_on_errors() -> None:
    """
    For a server process, once Django is set up: with DEBUG off, run every check including the
    deploy ones, print what they find, and raise ``SystemCheckError`` (refusing to start) on an
    error that is not silenced. Warnings are printed only.
    """
    if settings.DEBUG:
        return
    call_command("check", deploy=True, fail_level="ERROR")
