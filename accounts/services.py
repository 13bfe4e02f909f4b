"""
Every change to accounts: registration, phone verification, login tokens, phones, passwords,
and who may move whose credit.

Phones arrive here already in E.164 (the serializers normalise them). A code belongs to one
account, one phone and one purpose (see ``accounts.otp``): an anonymous verification only ever
completes a registration, and a phone an account added is completed only by that account.
Services that check a code run in a durable transaction of their own (``otp_consume``).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from core.authentication import auth_user_forget
from core.db import violates
from core.exceptions import (
    InvalidCredentials,
    InvalidInput,
    NotFoundError,
    OtpInvalid,
    PermissionDeniedError,
    PhoneLimitReached,
    PhoneNotVerified,
    PhoneNotVerifiedForPrimary,
    PhoneTaken,
    RegistrationPending,
    TokenExpired,
    TokenNotValid,
)

from .models import OneTimePassword, PhoneNumber, User
from .otp import otp_claim_send_slot, otp_consume, otp_is_live, otp_issue
from .selectors import (
    customer_find,
    phone_claims_lock,
    user_get_by_verified_phone,
    user_get_pending,
    user_get_waiting,
    user_has_verified_primary_phone,
)

Purpose = OneTimePassword.Purpose
TAKEN_ELSEWHERE = "This phone number is already verified on another account."


def _phone_is_verified_anywhere(phone: str) -> bool:
    return PhoneNumber.objects.filter(phone=phone, is_verified=True).exists()


def _account_drop(user: User) -> bool:
    """Delete an account that never verified; False if something still refers to it (money)."""
    try:
        with transaction.atomic():
            user.delete()
    except (models.ProtectedError, models.RestrictedError):
        return False
    return True


# --- Registration and phone verification -------------------------------------------------------


def _registration_make_room(*, phone: str, now: datetime) -> None:
    """
    Let a new registration of ``phone`` go ahead, or refuse it: the number is verified (400
    ``phone_taken``), or awaits a registration whose code is still live (409
    ``registration_pending``). A pending registration whose code expired is replaced.
    """
    claims = phone_claims_lock(phone=phone)
    if any(claim.is_verified for claim in claims):
        raise PhoneTaken()
    pending = User.objects.select_for_update().filter(phone=phone).first()
    if pending is None:
        return
    # Read afresh: a registration that committed after the lock above shows here.
    if not pending.phones.filter(phone=phone, is_primary=True, is_verified=False).exists():
        raise PhoneTaken()  # the account holds the number: it is not a pending registration
    if otp_is_live(user=pending, phone=phone, purpose=Purpose.REGISTRATION, now=now):
        raise RegistrationPending()
    if not _account_drop(pending):
        raise RegistrationPending(
            "An account waits to verify this phone number and can't be replaced."
            " Ask for a new code with resend-otp."
        )


def user_register(
    *,
    phone: str,
    name: str,
    password: str,
    language: str | None = None,
    now: datetime | None = None,
) -> User:
    """
    Create an unverified account (in ``language``, else ``DEFAULT_LANGUAGE``) and text it a
    registration code. A pending registration of the number is replaced only once its code has
    expired (until then 409 ``registration_pending``).
    """
    now = now or timezone.now()
    if _phone_is_verified_anywhere(phone):
        raise PhoneTaken()
    try:
        with transaction.atomic(durable=True):
            _registration_make_room(phone=phone, now=now)
            otp_claim_send_slot(purpose=Purpose.REGISTRATION, phone=phone, now=now)
            user = User.objects.create_user(
                phone,
                password,
                name=name,
                date_joined=now,
                language=language or settings.DEFAULT_LANGUAGE,
            )
            otp_issue(user=user, phone=phone, purpose=Purpose.REGISTRATION, now=now)
    except IntegrityError as exc:
        if violates(exc, User, "accounts_user_phone_unique"):
            # A registration of the same number committed first: its code is live now.
            raise RegistrationPending() from None
        raise
    return user


def _phone_mark_verified(*, user: User, phone: str, now: datetime) -> PhoneNumber:
    # The number's rows are locked (otp_consume), so this check and the writes below are final.
    row = PhoneNumber.objects.filter(user=user, phone=phone).first()
    if row is None:
        raise OtpInvalid()
    if PhoneNumber.objects.filter(phone=phone, is_verified=True).exclude(pk=row.pk).exists():
        raise PhoneTaken(TAKEN_ELSEWHERE)
    # The number now belongs to this account: other accounts' unproven claims on it, and their
    # codes for it, give way. A pending registration that money refers to stays (it can never
    # be verified now, and an operator sees it in the admin).
    for pending in User.objects.filter(
        phone=phone, phones__phone=phone, phones__is_primary=True, phones__is_verified=False
    ).exclude(pk=user.pk):
        _account_drop(pending)
    PhoneNumber.objects.filter(phone=phone, is_verified=False, is_primary=False).exclude(
        user=user
    ).delete()
    OneTimePassword.objects.filter(
        phone=phone, purpose__in=[Purpose.REGISTRATION, Purpose.ADD_PHONE]
    ).exclude(user=user).delete()
    row.is_verified = True
    row.verified_at = now
    try:
        with transaction.atomic():
            row.save(update_fields=["is_verified", "verified_at"])
    except IntegrityError as exc:
        if violates(exc, PhoneNumber, "accounts_phone_verified_once"):
            raise PhoneTaken(TAKEN_ELSEWHERE) from None
        raise
    return row


def registration_verify(*, phone: str, code: str, now: datetime | None = None) -> PhoneNumber:
    """
    Complete the pending registration of ``phone`` with its code (anonymous ``verify-otp``).
    Only a registration code is checked: a code texted to add the number to an account never
    completes here.
    """
    now = now or timezone.now()
    return otp_consume(
        phone=phone,
        purpose=Purpose.REGISTRATION,
        code=code,
        now=now,
        on_success=lambda owner: _phone_mark_verified(user=owner, phone=phone, now=now),
    )


def phone_add_verify(
    *, user: User, phone: str, code: str, now: datetime | None = None
) -> PhoneNumber:
    """Complete a phone ``user`` added, with the code texted to it (``verify-otp`` with a token)."""
    now = now or timezone.now()
    return otp_consume(
        phone=phone,
        purpose=Purpose.ADD_PHONE,
        user=user,
        code=code,
        now=now,
        on_success=lambda owner: _phone_mark_verified(user=owner, phone=phone, now=now),
    )


def otp_resend(*, phone: str, user: User | None = None, now: datetime | None = None) -> None:
    """
    Text a new code if one is due; the answer is the same either way. Anonymous: the pending
    registration of ``phone``. With ``user``: a phone that account added and has not verified.
    """
    now = now or timezone.now()
    purpose = Purpose.REGISTRATION if user is None else Purpose.ADD_PHONE
    # Claimed whether or not a code is due, so the answer never tells which numbers wait.
    otp_claim_send_slot(purpose=purpose, phone=phone, user_id=user.pk if user else None, now=now)
    with transaction.atomic():
        if user is None:
            owner = user_get_pending(phone=phone)
        else:
            owner = user if user.phones.filter(phone=phone, is_verified=False).exists() else None
        if owner is not None:
            otp_issue(user=owner, phone=phone, purpose=purpose, now=now)


# --- Tokens ------------------------------------------------------------------------------------


def _token_pair(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"refresh": str(refresh), "access": str(refresh.access_token)}


def user_login(*, phone: str, password: str) -> dict[str, str]:
    """
    A refresh/access pair for a verified phone of the account and the right password. The right
    password on a phone still waiting for its code answers 403 ``phone_not_verified``.

    Exactly one password hash is computed whatever the number (verified, waiting, unknown): the
    time a wrong password takes must not tell a stranger that someone is registering a number.
    """
    waiting = None if _phone_is_verified_anywhere(phone) else user_get_waiting(phone=phone)
    if waiting is None:
        # One hash: the verified account's password, or a dummy one (PhoneBackend).
        user = authenticate(phone=phone, password=password)
        if user is None:
            raise InvalidCredentials()
        update_last_login(None, user)
        return _token_pair(user)
    if waiting.check_password(password):
        raise PhoneNotVerified()
    raise InvalidCredentials()


def _refresh_token(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except ExpiredTokenError:
        raise TokenExpired("The refresh token has expired. Log in again.") from None
    except TokenError as exc:
        raise TokenNotValid(str(exc)) from None


def token_refresh(*, refresh: str) -> dict[str, str]:
    """Rotate a refresh token: the old one is blacklisted, exactly once even under a race."""
    token = _refresh_token(refresh)
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
    token = _refresh_token(refresh)
    if str(token.get(jwt_settings.USER_ID_CLAIM)) != str(user.pk):
        raise TokenNotValid("This refresh token does not belong to you.")
    token.blacklist()


def user_tokens_revoke_all(*, user: User) -> int:
    """Blacklist every refresh token the account still has; return how many."""
    live = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    rows = [BlacklistedToken(token=token) for token in live]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# --- Account settings --------------------------------------------------------------------------


def user_settings_update(
    *,
    user: User,
    name: str | None = None,
    language: str | None = None,
    notify_reminders: bool | None = None,
    notify_receipts: bool | None = None,
) -> User:
    """Change the account's name, language or notice preferences (``None``: leave as it is)."""
    given = {
        "name": name,
        "language": language,
        "notify_reminders": notify_reminders,
        "notify_receipts": notify_receipts,
    }
    changes = {field: value for field, value in given.items() if value is not None}
    if changes:
        # Only these columns: a concurrent balance change on the same row is not overwritten.
        User.objects.filter(pk=user.pk).update(**changes)
        if "language" in changes:
            # An update() sends no save signal: the cached account would keep the old language.
            auth_user_forget(user_id=user.pk)
        for field, value in changes.items():
            setattr(user, field, value)
    return user


# --- Phones ------------------------------------------------------------------------------------


@transaction.atomic
def phone_add(*, user: User, phone: str, now: datetime | None = None) -> PhoneNumber:
    """
    Add an unverified phone (at most ``MAX_PHONES_PER_ACCOUNT``) and text it a code that only
    this account can use (``verify-otp`` with its token).
    """
    now = now or timezone.now()
    # Lock the account so two concurrent adds can't both pass the limit check.
    User.objects.select_for_update().get(pk=user.pk)
    if user.phones.filter(phone=phone).exists():
        raise PhoneTaken(gettext("This phone number is already on your account."))
    if _phone_is_verified_anywhere(phone):
        raise PhoneTaken()
    if user.phones.count() >= settings.MAX_PHONES_PER_ACCOUNT:
        message = gettext("An account can have at most {count} phone numbers.").format(
            count=settings.MAX_PHONES_PER_ACCOUNT
        )
        raise PhoneLimitReached(message)
    otp_claim_send_slot(purpose=Purpose.ADD_PHONE, phone=phone, user_id=user.pk, now=now)
    row = PhoneNumber.objects.create(user=user, phone=phone, created_at=now)
    # The account's own code: a pending registration of the number keeps its code.
    otp_issue(user=user, phone=phone, purpose=Purpose.ADD_PHONE, now=now)
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
    otp_claim_send_slot(purpose=Purpose.PASSWORD_RESET, phone=phone, now=now)
    owner = user_get_by_verified_phone(phone=phone)
    if owner is not None and owner.is_active:
        with transaction.atomic():
            otp_issue(user=owner, phone=phone, purpose=Purpose.PASSWORD_RESET, now=now)


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
    owner = user_get_by_verified_phone(phone=phone)
    if owner is None:
        raise OtpInvalid()
    return otp_consume(
        phone=phone,
        purpose=Purpose.PASSWORD_RESET,
        user=owner,
        code=code,
        now=now,
        on_success=lambda user: _password_set(user=user, new_password=new_password),
    )


# --- Who may move whose credit -----------------------------------------------------------------


def credit_recipient_check(*, actor: User, customer: User) -> None:
    """
    Whether ``actor`` may move ``customer``'s credit: staff, any verified and active customer;
    a customer, only their own and only while ``ALLOW_SELF_TOP_UP`` is on. Raises 403
    ``permission_denied`` or 400 ``invalid``.
    """
    if customer.pk != actor.pk and not actor.is_staff:
        raise PermissionDeniedError(gettext("Only staff can top up another customer's credit."))
    if not actor.is_staff and not settings.ALLOW_SELF_TOP_UP:
        raise PermissionDeniedError(gettext("Top-ups are made by staff on this service."))
    if not customer.is_active:
        raise InvalidInput(gettext("This account is deactivated: its credit can't change."))
    if not user_has_verified_primary_phone(user_id=customer.pk):
        raise InvalidInput(
            gettext("This account has not verified its phone yet: its credit can't change.")
        )


def credit_recipient_get(*, actor: User, reference: str | None) -> User:
    """
    The customer whose credit ``actor`` tops up: themselves, or (staff only) the verified,
    active customer with ``reference`` as id or phone. See ``credit_recipient_check``.
    """
    if reference is None:
        customer = actor
    elif not actor.is_staff:
        raise PermissionDeniedError(gettext("Only staff can top up another customer's credit."))
    else:
        customer = customer_find(reference=reference)
        if customer is None:
            message = gettext("No active customer has this id or phone.")
            raise InvalidInput(message, errors={"customer": [message]})
    credit_recipient_check(actor=actor, customer=customer)
    return customer
