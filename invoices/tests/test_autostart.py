import pytest

from core import runtime
from invoices.scheduler import should_autostart


@pytest.fixture
def autostart_on(settings, monkeypatch):
    settings.SCHEDULER_AUTOSTART = True
    monkeypatch.setattr(runtime, "server_process", False)


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["manage.py", "runserver"], {"RUN_MAIN": "true"}, True),  # the autoreloader's child
        (["manage.py", "runserver"], {}, False),  # the autoreloader's parent
        (["manage.py", "runserver", "--noreload"], {}, True),
        (["manage.py", "migrate"], {}, False),
        (["manage.py", "bill"], {}, False),
        (["manage.py", "runscheduler"], {}, False),  # it runs its own, in the foreground
        (["manage.py", "shell"], {"RUN_MAIN": "true"}, False),
        (["pytest"], {}, False),
        (["-c"], {}, False),
    ],
)
def test_autostart_only_where_it_serves(autostart_on, argv, environ, expected):
    assert should_autostart(argv, environ) is expected


def test_autostart_in_a_wsgi_server_process(autostart_on, monkeypatch):
    monkeypatch.setattr(runtime, "server_process", True)

    assert should_autostart(["gunicorn", "config.wsgi"], {}) is True


def test_autostart_can_be_switched_off(settings, monkeypatch):
    settings.SCHEDULER_AUTOSTART = False
    monkeypatch.setattr(runtime, "server_process", True)

    assert should_autostart(["manage.py", "runserver", "--noreload"], {}) is False


def test_the_wsgi_module_marks_its_process(monkeypatch):
    monkeypatch.setattr(runtime, "server_process", False)
    import importlib

    import config.wsgi

    importlib.reload(config.wsgi)
    assert runtime.server_process is True


def test_a_server_asking_twice_starts_and_logs_one_scheduler(autostart_on, monkeypatch, caplog):
    # runserver asks from the app's ready() and again when it loads config.wsgi.
    from invoices import scheduler

    monkeypatch.setattr(runtime, "server_process", True)
    monkeypatch.setattr(scheduler.BillingScheduler, "start_in_background", lambda self: None)
    caplog.set_level("INFO", logger="invoices.scheduler")
    try:
        scheduler.autostart()
        first = scheduler.current()
        scheduler.autostart()
        assert scheduler.current() is first is not None
    finally:
        scheduler.stop()
    started = [r for r in caplog.records if r.getMessage().startswith("Starting the invoice")]
    assert len(started) == 1
