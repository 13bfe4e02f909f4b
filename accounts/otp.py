"""
One-time passwords. A code belongs to one account, one phone and one purpose: six digits, stored
as a keyed hash that covers all three, valid ``OTP_TTL_SECONDS``, at most ``OTP_MAX_ATTEMPTS``
wrong tries, deleted once used. Issuing a code replaces only the same account's code for the same
phone and purpose, never another account's.

Sends are spaced by ``OTP_RESEND_COOLDOWN_SECONDS`` per code (purpose and phone, and account for
an added phone), not per phone: a stranger's requests for a number then only ever delay the
code they themselves asked for, which the number's owner receives anyway, never the owner's own.
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
from django.utils.translation import gettext, gettext_noop

from core.exceptions import OtpAttemptsExceeded, OtpExpired, OtpInvalid, ThrottledError
from core.formatting import format_number
from core.i18n import language_override

from .models import OneTimePassword, User
from .selectors import phone_claims_lock
from .sms import send_sms

OTP_LENGTH = 6
T = TypeVar("T")
Purpose = OneTimePassword.Purpose

# What the code is for, and not to share it; in the account's language. English fits one GSM-7
# segment (160 characters), Bengali one or two UCS-2 segments (70, or 2 x 67 characters). The
# English texts are the catalogue's message ids, translated when a code is sent (otp_text).
MESSAGES = {
    Purpose.REGISTRATION: gettext_noop(
        "{code} is your code to register an account with this number. It expires in"
        " {minutes} min. Never share it with anyone."
    ),
    Purpose.ADD_PHONE: gettext_noop(
        "{code} is your code to add this number to an account. It expires in {minutes} min."
        " Never share it: whoever has it can attach your number to their account."
    ),
    Purpose.PASSWORD_RESET: gettext_noop(
        "{code} is your code to reset your password. It expires in {minutes} min."
        " Never share it. If you did not ask for it, ignore this message."
    ),
}


def otp_text(*, purpose: str, code: str, minutes: int, language: str) -> str:
    """The SMS of a code in ``language``; the code itself stays in ASCII digits, as it is typed."""
    with language_override(language):
        return gettext(MESSAGES[purpose]).format(
            code=code, minutes=format_number(minutes, language)
        )


def generate_code() -> str:
    return f"{secrets.randbelow(10**OTP_LENGTH):0{OTP_LENGTH}d}"


def hash_code(*, user_id: int, phone: str, purpose: str, code: str) -> str:
    # Keyed with SECRET_KEY: a copy of the database alone does not reveal live codes. The account
    # is part of the hash, so a code row pointed at another account would never match.
    value = f"{purpose}:{user_id}:{phone}:{code}"
    return salted_hmac("accounts.otp", value, algorithm="sha256").hexdigest()


def _cooldown_key(*, purpose: str, phone: str, user_id: int | None) -> str:
    return f"otp:cooldown:{purpose}:{phone}:{user_id or '-'}"


def otp_claim_send_slot(
    *, purpose: str, phone: str, user_id: int | None = None, now: datetime | None = None
) -> None:
    """
    Reserve the next SMS of one code, or raise 429 ``throttled`` with ``Retry-After`` if too
    soon. ``user_id`` is given for an added phone (several accounts may each add a number).
    """
    cooldown = settings.OTP_RESEND_COOLDOWN_SECONDS
    if cooldown <= 0:
        return
    now = now or timezone.now()
    key = _cooldown_key(purpose=purpose, phone=str(phone), user_id=user_id)
    until = now.timestamp() + cooldown
    # cache.add is atomic: of two concurrent sends of one code, one wins.
    if cache.add(key, until, timeout=cooldown):
        return
    reserved_until = cache.get(key, until)
    wait = max(1, math.ceil(reserved_until - now.timestamp()))
    raise ThrottledError(
        gettext("A code was sent to this phone recently. Try again in {wait} seconds.").format(
            wait=wait
        ),
        wait_seconds=wait,
    )


def otp_issue(*, user: User, phone: str, purpose: str, now: datetime | None = None) -> None:
    """Replace ``user``'s live code for ``phone`` and ``purpose``; text the new one after commit."""
    now = now or timezone.now()
    code = generate_code()
    ttl = settings.OTP_TTL_SECONDS
    OneTimePassword.objects.update_or_create(
        user=user,
        phone=phone,
        purpose=purpose,
        defaults={
            "code_hash": hash_code(user_id=user.pk, phone=str(phone), purpose=purpose, code=code),
            "attempts": 0,
            "created_at": now,
            "expires_at": now + timedelta(seconds=ttl),
        },
    )
    text = otp_text(purpose=purpose, code=code, minutes=max(1, ttl // 60), language=user.language)
    transaction.on_commit(lambda: send_sms(phone=str(phone), text=text))


def otp_is_live(*, user: User, phone: str, purpose: str, now: datetime) -> bool:
    """Whether ``user`` holds a code for ``phone`` and ``purpose`` that has not expired."""
    return OneTimePassword.objects.filter(
        user=user, phone=phone, purpose=purpose, expires_at__gt=now
    ).exists()


def otp_consume(
    *,
    phone: str,
    purpose: str,
    code: str,
    on_success: Callable[[User], T],
    user: User | None = None,
    now: datetime | None = None,
) -> T:
    """
    Check ``code`` against the live code for ``phone`` and ``purpose`` (of ``user``, or of the
    only account that can hold one: the pending registration of the number); if it matches,
    delete the code, run ``on_success(account)`` in the same transaction and return its result.

    The number's rows and then the code row are locked, so concurrent guesses are counted one by
    one and changes of who holds a number run one after the other. A wrong guess is committed
    before ``otp_invalid`` is raised, hence the durable block: this never runs nested. If
    ``on_success`` raises, the code stays usable and no attempt is counted.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        phone_claims_lock(phone=phone)
        codes = OneTimePassword.objects.filter(phone=phone, purpose=purpose)
        if user is not None:
            codes = codes.filter(user=user)
        elif purpose != Purpose.REGISTRATION:
            raise ValueError("Only a registration code is found without its account.")
        otp = codes.select_for_update(of=("self",)).select_related("user").first()
        if otp is None:
            raise OtpInvalid()
        if otp.expires_at <= now:
            raise OtpExpired()
        if otp.attempts >= settings.OTP_MAX_ATTEMPTS:
            raise OtpAttemptsExceeded()
        expected = hash_code(user_id=otp.user_id, phone=str(phone), purpose=purpose, code=code)
        if constant_time_compare(expected, otp.code_hash):
            otp.delete()
            return on_success(otp.user)
        otp.attempts += 1
        otp.save(update_fields=["attempts"])
    raise OtpInvalid()
