"""
Every change to accounts: registration, phone verification, login tokens, phones, passwords.

Phones arrive here already in E.164 (the serializers normalise them). Services that check an
OTP must not run inside an outer atomic block (see ``accounts.otp.otp_consume``).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from core.exceptions import (
    InvalidCredentials,
    InvalidInput,
    NotFoundError,
    OtpInvalid,
    PhoneLimitReached,
    PhoneNotVerified,
    PhoneNotVerifiedForPrimary,
    PhoneTaken,
    TokenNotValid,
)

from .models import OneTimePassword, PhoneNumber, User
from .otp import otp_claim_send_slot, otp_consume, otp_issue
from .selectors import user_get_pending

Purpose = OneTimePassword.Purpose


def _phone_is_verified_anywhere(phone: str) -> bool:
    return PhoneNumber.objects.filter(phone=phone, is_verified=True).exists()


# --- Registration and phone verification -------------------------------------------------------


def user_register(*, phone: str, name: str, password: str, now: datetime | None = None) -> User:
    """Create an unverified account and text it a code; replaces a pending one with the phone."""
    now = now or timezone.now()
    if _phone_is_verified_anywhere(phone):
        raise PhoneTaken()
    otp_claim_send_slot(phone=phone, now=now)
    try:
        with transaction.atomic():
            pending = user_get_pending(phone=phone)
            if pending is not None:
                pending.delete()
            user = User.objects.create_user(phone, password, name=name, date_joined=now)
            otp_issue(user=user, phone=phone, purpose=Purpose.VERIFY_PHONE, now=now)
    except IntegrityError:
        # Another registration of the same phone won the race.
        raise PhoneTaken() from None
    return user


def _phone_mark_verified(*, user: User, phone: str, now: datetime) -> PhoneNumber:
    row = PhoneNumber.objects.select_for_update().filter(user=user, phone=phone).first()
    if row is None:
        raise OtpInvalid()
    if PhoneNumber.objects.filter(phone=phone, is_verified=True).exclude(pk=row.pk).exists():
        raise PhoneTaken("This phone number is already verified on another account.")
    # The number now belongs to this account: drop other accounts' unproven claims on it.
    User.objects.filter(phone=phone).exclude(pk=user.pk).delete()  # pending registrations
    PhoneNumber.objects.filter(phone=phone, is_verified=False).exclude(user=user).delete()
    row.is_verified = True
    row.verified_at = now
    try:
        with transaction.atomic():
            row.save(update_fields=["is_verified", "verified_at"])
    except IntegrityError:
        raise PhoneTaken("This phone number is already verified on another account.") from None
    return row


def phone_verify(*, phone: str, code: str, now: datetime | None = None) -> PhoneNumber:
    """Check the code texted to ``phone``; on success the phone (and a new account) is verified."""
    now = now or timezone.now()
    return otp_consume(
        phone=phone,
        purpose=Purpose.VERIFY_PHONE,
        code=code,
        now=now,
        on_success=lambda user: _phone_mark_verified(user=user, phone=phone, now=now),
    )


def otp_resend(*, phone: str, now: datetime | None = None) -> None:
    """Text a new verification code if the phone awaits one; the answer is the same either way."""
    now = now or timezone.now()
    otp_claim_send_slot(phone=phone, now=now)
    with transaction.atomic():
        live = (
            OneTimePassword.objects.filter(phone=phone, purpose=Purpose.VERIFY_PHONE)
            .select_related("user")
            .first()
        )
        if live is not None:
            user = live.user
        else:
            row = (
                PhoneNumber.objects.filter(phone=phone, is_verified=False)
                .select_related("user")
                .order_by("-created_at", "-id")
                .first()
            )
            user = row.user if row else None
        if user is not None:
            otp_issue(user=user, phone=phone, purpose=Purpose.VERIFY_PHONE, now=now)


# --- Tokens ------------------------------------------------------------------------------------


def _token_pair(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"refresh": str(refresh), "access": str(refresh.access_token)}


def user_login(*, phone: str, password: str) -> dict[str, str]:
    """A refresh/access pair for a verified phone of the account and the right password."""
    user = authenticate(phone=phone, password=password)
    if user is None:
        # The right password on a phone that is not verified yet deserves a useful answer.
        waiting = User.objects.filter(
            phones__phone=phone, phones__is_verified=False, is_active=True
        )
        if any(candidate.check_password(password) for candidate in waiting[:5]):
            raise PhoneNotVerified()
        raise InvalidCredentials()
    update_last_login(None, user)
    return _token_pair(user)


def token_refresh(*, refresh: str) -> dict[str, str]:
    """Rotate a refresh token: the old one is blacklisted, exactly once even under a race."""
    try:
        token = RefreshToken(refresh)
    except TokenError as exc:
        raise TokenNotValid(str(exc)) from None
    with transaction.atomic():
        outstanding = (
            OutstandingToken.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(jti=token[jwt_settings.JTI_CLAIM])
            .first()
        )
        if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
            raise TokenNotValid("Token is blacklisted.")
        user = outstanding.user
        if user is None or not user.is_active:
            raise TokenNotValid("No active account found for the given token.")
        if token.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
            raise TokenNotValid("The password has changed since this token was issued.")
        BlacklistedToken.objects.create(token=outstanding)
        pair = _token_pair(user)
    return {"access": pair["access"], "refresh": pair["refresh"]}


def user_logout(*, user: User, refresh: str) -> None:
    """Blacklist the caller's refresh token so it can't mint access tokens any more."""
    try:
        token = RefreshToken(refresh)
    except TokenError as exc:
        raise TokenNotValid(str(exc)) from None
    if str(token.get(jwt_settings.USER_ID_CLAIM)) != str(user.pk):
        raise TokenNotValid("This refresh token does not belong to you.")
    token.blacklist()


def user_tokens_revoke_all(*, user: User) -> int:
    """Blacklist every refresh token the account still has; return how many."""
    live = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    rows = [BlacklistedToken(token=token) for token in live]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# --- Phones ------------------------------------------------------------------------------------


@transaction.atomic
def phone_add(*, user: User, phone: str, now: datetime | None = None) -> PhoneNumber:
    """Add an unverified phone (at most ``MAX_PHONES_PER_ACCOUNT``) and text it a code."""
    now = now or timezone.now()
    # Lock the account so two concurrent adds can't both pass the limit check.
    User.objects.select_for_update().get(pk=user.pk)
    if user.phones.filter(phone=phone).exists():
        raise PhoneTaken("This phone number is already on your account.")
    if _phone_is_verified_anywhere(phone):
        raise PhoneTaken()
    if user.phones.count() >= settings.MAX_PHONES_PER_ACCOUNT:
        message = f"An account can have at most {settings.MAX_PHONES_PER_ACCOUNT} phone numbers."
        raise PhoneLimitReached(message)
    otp_claim_send_slot(phone=phone, now=now)
    row = PhoneNumber.objects.create(user=user, phone=phone, created_at=now)
    otp_issue(user=user, phone=phone, purpose=Purpose.VERIFY_PHONE, now=now)
    return row


@transaction.atomic
def phone_make_primary(*, user: User, phone: str) -> PhoneNumber:
    """Make one of the caller's verified phones the primary one (the account's ``phone``)."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    row = locked.phones.filter(phone=phone).first()
    if row is None:
        raise NotFoundError("This phone number is not on your account.")
    if not row.is_verified:
        raise PhoneNotVerifiedForPrimary()
    if not row.is_primary:
        locked.phones.filter(is_primary=True).update(is_primary=False)
        row.is_primary = True
        row.save(update_fields=["is_primary"])
        locked.phone = phone
        locked.save(update_fields=["phone"])
        user.phone = phone
    return row


# --- Password reset ----------------------------------------------------------------------------


def password_reset_request(*, phone: str, now: datetime | None = None) -> None:
    """Text a reset code to a verified phone; the same answer whether or not an account exists."""
    now = now or timezone.now()
    otp_claim_send_slot(phone=phone, now=now)
    row = (
        PhoneNumber.objects.filter(phone=phone, is_verified=True, user__is_active=True)
        .select_related("user")
        .first()
    )
    if row is not None:
        with transaction.atomic():
            otp_issue(user=row.user, phone=phone, purpose=Purpose.PASSWORD_RESET, now=now)


def _password_set(*, user: User, new_password: str) -> User:
    try:
        validate_password(new_password, user)
    except DjangoValidationError as exc:
        raise InvalidInput(exc.messages[0], errors={"new_password": exc.messages}) from None
    user.set_password(new_password)
    user.save(update_fields=["password"])
    user_tokens_revoke_all(user=user)
    return user


def password_reset_confirm(
    *, phone: str, code: str, new_password: str, now: datetime | None = None
) -> User:
    """Set a new password with the texted code; every session of the account is logged out."""
    return otp_consume(
        phone=phone,
        purpose=Purpose.PASSWORD_RESET,
        code=code,
        now=now,
        on_success=lambda user: _password_set(user=user, new_password=new_password),
    )
