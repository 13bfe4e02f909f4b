"""The deploy checks (core/checks.py): what a person reads from `manage.py check --deploy`."""

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from core.checks import refuse_to_start_on_errors

MANIFEST = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
PLAIN = "django.contrib.staticfiles.storage.StaticFilesStorage"


def billing_messages() -> dict[str, str]:
    """The billing.* deploy checks' messages, as `check --deploy` prints them."""
    found = checks.run_checks(include_deployment_checks=True)
    return {message.id: str(message) for message in found if message.id.startswith("billing.")}


@pytest.fixture
def production(settings, tmp_path):
    """Settings a production deployment would have; each test breaks one."""
    settings.DEBUG = False
    settings.SILENCED_SYSTEM_CHECKS = []  # the test settings silence the SMS and cache checks
    settings.SMS_BACKEND = "file"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
        }
    }
    settings.STATIC_ROOT = tmp_path / "static"
    settings.WHITENOISE_USE_FINDERS = False
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": PLAIN}}
    (tmp_path / "static" / "admin" / "css").mkdir(parents=True)
    (tmp_path / "static" / "admin" / "css" / "base.css").write_text("")
    sidecar = tmp_path / "static" / "drf_spectacular_sidecar" / "swagger-ui-dist"
    sidecar.mkdir(parents=True)
    (sidecar / "swagger-ui-bundle.js").write_text("")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    return settings


def test_a_production_configuration_passes(production):
    assert billing_messages() == {}


@pytest.mark.parametrize(
    ("backend", "what"),
    [
        ("console", "prints codes to the server's log"),
        ("accounts.sms.ConsoleBackend", "prints codes to the server's log"),
        ("locmem", "keeps codes in the process's memory"),
    ],
)
def test_an_sms_backend_that_reaches_no_phone_is_an_error(production, backend, what):
    production.SMS_BACKEND = backend

    assert billing_messages() == {
        "billing.E001": (
            f"?: (billing.E001) SMS_BACKEND is {backend!r}: it {what}, so verification codes "
            "never reach customers and nobody can register or reset a password.\n"
            "\tHINT: Set SMS_BACKEND to the dotted path of your SMS provider's backend (a class "
            "with send(phone, text)), or to 'file' if another process sends the lines of "
            "SMS_FILE_PATH/sms.log."
        )
    }


def test_an_sms_backend_that_can_t_be_imported_is_an_error(production):
    production.SMS_BACKEND = "smsgateway.Backend"

    message = billing_messages()["billing.E002"]

    assert message.startswith("?: (billing.E002) SMS_BACKEND 'smsgateway.Backend' can't be")
    assert "every code would fail to send" in message


def test_a_provider_s_backend_class_passes(production):
    production.SMS_BACKEND = "accounts.sms.FileBackend"

    assert billing_messages() == {}


def test_a_local_memory_cache_is_a_warning(production):
    production.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    assert billing_messages() == {
        "billing.W001": (
            "?: (billing.W001) The default cache is local memory: each server process counts "
            "rate limits and code resend cooldowns on its own, so N processes allow N times the "
            "limits.\n\tHINT: Set CACHE_URL to a shared cache, e.g. redis://127.0.0.1:6379/0 (or "
            "silence billing.W001 if one process serves every request)."
        )
    }


def test_the_dummy_cache_is_an_error(production):
    production.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}

    assert "rate limits on logins and codes" in billing_messages()["billing.E003"]


def test_static_files_not_collected_for_the_manifest_is_an_error(production, tmp_path):
    # /api/docs/ answered 500 ("Missing staticfiles manifest entry") without collectstatic.
    production.STATIC_ROOT = tmp_path / "empty"
    production.STORAGES = {**production.STORAGES, "staticfiles": {"BACKEND": MANIFEST}}

    assert billing_messages() == {
        "billing.E004": (
            f"?: (billing.E004) Static files have not been collected into STATIC_ROOT "
            f"({tmp_path / 'empty'}): drf_spectacular_sidecar/swagger-ui-dist/"
            "swagger-ui-bundle.js, admin/css/base.css are missing from the manifest, so "
            "/api/docs/ and the admin answer 500.\n"
            "\tHINT: Run `manage.py collectstatic --noinput` (it fills STATIC_ROOT) before "
            "starting."
        )
    }


def test_collected_static_files_pass_and_serve_the_docs(production, tmp_path, client):
    production.STATIC_ROOT = tmp_path / "collected"
    production.STORAGES = {**production.STORAGES, "staticfiles": {"BACKEND": MANIFEST}}
    call_command("collectstatic", interactive=False, verbosity=0)

    assert billing_messages() == {}
    assert client.get("/api/docs/").status_code == 200


def test_static_files_not_collected_without_a_manifest_is_a_warning(production, tmp_path):
    production.STATIC_ROOT = tmp_path / "empty"

    message = billing_messages()["billing.W002"]

    assert "show no styles or scripts" in message
    assert "collectstatic" in message


def test_static_files_served_from_the_apps_pass(production, tmp_path):
    production.STATIC_ROOT = tmp_path / "empty"
    production.WHITENOISE_USE_FINDERS = True

    assert billing_messages() == {}


def test_no_hsts_behind_a_tls_proxy_is_a_warning(production):
    production.SECURE_HSTS_SECONDS = 0

    assert billing_messages() == {
        "billing.W003": (
            "?: (billing.W003) BEHIND_TLS_PROXY is on but HSTS is off: a browser that once "
            "reached the service over HTTPS may still be sent to plain HTTP, where tokens and "
            "the admin's session can be read.\n\tHINT: Set SECURE_HSTS_SECONDS (31536000 is one "
            "year; start lower while trying it) and SECURE_HSTS_INCLUDE_SUBDOMAINS if every "
            "subdomain serves HTTPS."
        )
    }


def test_no_hsts_without_a_tls_proxy_is_left_to_django_s_own_check(production):
    production.SECURE_PROXY_SSL_HEADER = None
    production.SECURE_HSTS_SECONDS = 0

    assert billing_messages() == {}


def test_the_checks_only_run_with_deploy(production):
    production.SMS_BACKEND = "console"

    assert not [m for m in checks.run_checks() if m.id.startswith("billing.")]


def test_a_server_refuses_to_start_on_an_error(production):
    production.SMS_BACKEND = "console"

    with pytest.raises(SystemCheckError, match=r"billing\.E001\) SMS_BACKEND is 'console'"):
        refuse_to_start_on_errors()


def test_a_server_starts_with_warnings_only(production, capsys):
    production.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    refuse_to_start_on_errors()

    assert "billing.W001" in capsys.readouterr().err


def test_a_silenced_error_does_not_stop_a_server(production):
    production.SMS_BACKEND = "console"
    production.SILENCED_SYSTEM_CHECKS = ["billing.E001"]

    refuse_to_start_on_errors()


def test_a_development_server_is_not_checked(production):
    production.SMS_BACKEND = "console"
    production.DEBUG = True

    refuse_to_start_on_errors()
