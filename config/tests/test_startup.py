"""With DEBUG off, the WSGI and ASGI entry points run the deploy checks and refuse to start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def start(module: str, command: list[str] | None = None, **env: str) -> subprocess.CompletedProcess:
    """Import the entry point as a server does, in a fresh process with production settings."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SMS_", "CACHE_", "SILENCED_", "DEBUG"))
    }
    environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "false",
            "SECRET_KEY": "a-long-production-like-secret-key-0123456789-abcdefghijklmnop",
            "SCHEDULER_AUTOSTART": "false",
            **env,
        }
    )
    return subprocess.run(  # noqa: S603
        command or [sys.executable, "-c", f"import {module}; print('serving')"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_a_server_with_a_console_sms_backend_refuses_to_start(module):
    started = start(module, SMS_BACKEND="console")

    assert started.returncode != 0
    assert "serving" not in started.stdout
    assert "(billing.E001) SMS_BACKEND is 'console'" in started.stderr
    assert "(billing.E004) Static files have not been collected" in started.stderr


def test_a_server_without_errors_starts_and_prints_the_warnings():
    started = start(
        "config.wsgi",
        SMS_BACKEND="file",
        # The static files check is the only error left; silencing it is the way out.
        SILENCED_SYSTEM_CHECKS="billing.E004",
    )

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "serving"
    assert "(billing.W001) The default cache is local memory" in started.stderr


def test_a_development_server_starts_without_the_deploy_checks():
    started = start("config.wsgi", DEBUG="true", SMS_BACKEND="console")

    assert started.returncode == 0, started.stderr
    assert "billing." not in started.stderr


def test_the_scheduler_with_a_console_sms_backend_refuses_to_start():
    command = [sys.executable, "manage.py", "runscheduler"]
    started = start("", command, SMS_BACKEND="console")

    assert started.returncode != 0
    assert "Invoice scheduler starting" not in started.stdout
    assert "(billing.E001) SMS_BACKEND is 'console'" in started.stderr
