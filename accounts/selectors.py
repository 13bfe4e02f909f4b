"""Reads of accounts data."""

from __future__ import annotations

from .models import PhoneNumber, User
from .phones import normalize_phone


def user_get_by_verified_phone(*, phone: str) -> User | None:
    """The account on which ``phone`` (any notation) is verified, if any."""
    e164 = normalize_phone(phone)
    if e164 is None:
        return None
    row = PhoneNumber.objects.select_related("user").filter(phone=e164, is_verified=True).first()
    return row.user if row else None


def user_get_pending(*, phone: str) -> User | None:
    """The not-yet-verified account registered with ``phone`` (E.164) as its primary phone."""
    return User.objects.filter(
        phone=phone, phones__phone=phone, phones__is_primary=True, phones__is_verified=False
    ).first()


def user_get_profile(*, user_id: int) -> User:
    """The account with its phones, for ``auth/me/``."""
    return User.objects.prefetch_related("phones").get(pk=user_id)
