"""
One-time passwords: six digits, stored as a keyed hash, valid ``OTP_TTL_SECONDS``, at most
``OTP_MAX_ATTEMPTS`` wrong tries, deleted once used, and at most one send per phone every
``OTP_RESEND_COOLDOWN_SECONDS``.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from core.exceptions import OtpAttemptsExceeded, OtpExpired, OtpInvalid, ThrottledError

from .models import OneTimePassword, User
from .sms import send_sms

OTP_LENGTH = 6
T = TypeVar("T")
Purpose = OneTimePassword.Purpose

MESSAGES = {
    Purpose.VERIFY_PHONE: "Your verification code is {code}. It expires in {minutes} minutes.",
    Purpose.PASSWORD_RESET: "Your password reset code is {code}. It expires in {minutes} minutes.",
}


def generate_code() -> str:
    return f"{secrets.randbelow(10**OTP_LENGTH):0{OTP_LENGTH}d}"


def hash_code(*, phone: str, purpose: str, code: str) -> str:
    # Keyed with SECRET_KEY: a copy of the database alone does not reveal live codes.
    return salted_hmac("accounts.otp", f"{purpose}:{phone}:{code}", algorithm="sha256").hexdigest()


def _cooldown_key(phone: str) -> str:
    return f"otp:cooldown:{phone}"


def otp_claim_send_slot(*, phone: str, now: datetime | None = None) -> None:
    """Reserve the phone's next SMS, or raise 429 ``throttled`` with ``Retry-After`` if too soon."""
    cooldown = settings.OTP_RESEND_COOLDOWN_SECONDS
    if cooldown <= 0:
        return
    now = now or timezone.now()
    until = now.timestamp() + cooldown
    # cache.add is atomic: of two concurrent sends to one phone, one wins.
    if cache.add(_cooldown_key(str(phone)), until, timeout=cooldown):
        return
    reserved_until = cache.get(_cooldown_key(str(phone)), until)
    wait = max(1, math.ceil(reserved_until - now.timestamp()))
    raise ThrottledError(
        f"A code was sent to this phone recently. Try again in {wait} seconds.", wait_seconds=wait
    )


def otp_issue(*, user: User, phone: str, purpose: str, now: datetime | None = None) -> None:
    """Replace the phone's live code for ``purpose`` and text the new one after commit."""
    now = now or timezone.now()
    code = generate_code()
    ttl = settings.OTP_TTL_SECONDS
    OneTimePassword.objects.update_or_create(
        phone=phone,
        purpose=purpose,
        defaults={
            "user": user,
            "code_hash": hash_code(phone=str(phone), purpose=purpose, code=code),
            "attempts": 0,
            "created_at": now,
            "expires_at": now + timedelta(seconds=ttl),
        },
    )
    text = MESSAGES[purpose].format(code=code, minutes=max(1, ttl // 60))
    transaction.on_commit(lambda: send_sms(phone=str(phone), text=text))


def otp_consume(
    *,
    phone: str,
    purpose: str,
    code: str,
    on_success: Callable[[User], T],
    now: datetime | None = None,
) -> T:
    """
    Check ``code`` against the phone's live code; if it matches, delete the code and run
    ``on_success(user)`` in the same transaction and return its result.

    The code row is locked, so concurrent guesses are counted one by one. A wrong guess is
    committed before ``otp_invalid`` is raised, so never call this inside an outer atomic block.
    If ``on_success`` raises, the code stays usable and no attempt is counted.
    """
    now = now or timezone.now()
    with transaction.atomic():
        otp = (
            OneTimePassword.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(phone=phone, purpose=purpose)
            .first()
        )
        if otp is None:
            raise OtpInvalid()
        if otp.expires_at <= now:
            raise OtpExpired()
        if otp.attempts >= settings.OTP_MAX_ATTEMPTS:
            raise OtpAttemptsExceeded()
        expected = hash_code(phone=str(phone), purpose=purpose, code=code)
        matches = constant_time_compare(expected, otp.code_hash)
        if matches:
            otp.delete()
            return on_success(otp.user)
        otp.attempts += 1
        otp.save(update_fields=["attempts"])
    raise OtpInvalid()
