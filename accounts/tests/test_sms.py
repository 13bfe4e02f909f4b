import logging
from datetime import datetime

import pytest

from accounts import services, sms
from accounts.models import User


class RecordingBackend(sms.BaseBackend):
    sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))


class BrokenBackend(sms.BaseBackend):
    def send(self, phone: str, text: str) -> None:
        raise ConnectionError("provider down")


def test_locmem_backend_keeps_messages_in_the_outbox(settings):
    settings.SMS_BACKEND = "locmem"

    sms.send_sms(phone="+8801516100100", text="hello")

    assert [(m.phone, m.text) for m in sms.outbox] == [("+8801516100100", "hello")]


def test_console_backend_logs_the_message(settings, caplog):
    settings.SMS_BACKEND = "console"

    with caplog.at_level(logging.INFO, logger="accounts.sms"):
        sms.send_sms(phone="+8801516100100", text="Your verification code is 123456.")

    assert "SMS to +8801516100100: Your verification code is 123456." in caplog.text


def test_file_backend_appends_tab_separated_lines(settings, tmp_path, time_machine):
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    time_machine.move_to("2026-07-01 08:30:00Z", tick=False)

    sms.send_sms(phone="+8801516100100", text="first")
    sms.send_sms(phone="+8801917100100", text="second one")

    lines = (tmp_path / "sms" / "sms.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    sent_at, phone, text = lines[1].split("\t")
    assert datetime.fromisoformat(sent_at) == datetime.fromisoformat("2026-07-01T08:30:00+00:00")
    assert (phone, text) == ("+8801917100100", "second one")
    assert lines[0].split("\t")[1:] == ["+8801516100100", "first"]


def test_a_provider_plugs_in_by_dotted_path(settings):
    settings.SMS_BACKEND = f"{__name__}.RecordingBackend"
    RecordingBackend.sent.clear()

    sms.send_sms(phone="+8801516100100", text="hi")

    assert RecordingBackend.sent == [("+8801516100100", "hi")]


def test_a_failing_provider_is_logged_not_raised(settings, caplog):
    settings.SMS_BACKEND = f"{__name__}.BrokenBackend"

    with caplog.at_level(logging.ERROR, logger="accounts.sms"):
        sms.send_sms(phone="+8801516100100", text="hi")

    assert "Sending an SMS to +8801516100100 failed" in caplog.text


@pytest.mark.django_db
def test_no_sms_leaves_when_the_registration_rolls_back(settings, api_client, monkeypatch):
    settings.SMS_BACKEND = "locmem"

    issue = services.otp_issue

    def issue_then_fail(**kwargs):
        issue(**kwargs)
        raise RuntimeError("database trouble after the code was issued")

    monkeypatch.setattr("accounts.services.otp_issue", issue_then_fail)
    with pytest.raises(RuntimeError):
        api_client.post(
            "/api/v1/auth/register/",
            {"phone": "01516100100", "name": "A", "password": "correct-horse-42"},
        )

    assert sms.outbox == []
    assert not User.objects.exists()
