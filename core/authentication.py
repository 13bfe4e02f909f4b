from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPE_BYTES
from rest_framework_simplejwt.authentication import JWTAuthentication as BaseJWTAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from .i18n import language_activate_for

_HEADER_TYPES = {header_type.lower() for header_type in AUTH_HEADER_TYPE_BYTES}
EXPIRED_MESSAGE = _("The access token has expired. Get a new one from auth/refresh/.")

# --- The account behind a token, cached (AUTH_USER_CACHE_SECONDS) -------------------------------
#
# Every authenticated request needs the account: does it still exist, is it active, is the token's
# password hash still the password's (a password reset revokes access tokens at once)? With
# AUTH_USER_CACHE_SECONDS > 0 (a cache shared by every process: Redis), those answers and the
# columns every request reads (is_staff, is_superuser, language) come from the cache; the rest of
# the row is read from the database, in one query, the first time a view uses it (the balance is
# never cached). Saving or deleting an account forgets its entry, for every process, and keeps it
# out of the cache for FORGET_SECONDS: a request that read the row before the change committed
# can't put the old answers back.

CACHED_FIELDS = ("id", "is_active", "is_staff", "is_superuser", "language")
FORGET_SECONDS = 30
_REVOKING_FIELDS = frozenset({*CACHED_FIELDS, "password"})
_FORGOTTEN = "forgotten"


def _auth_key(user_id: Any) -> str:
    return f"auth:user:{user_id}"


def auth_user_forget(*, user_id: Any) -> None:
    """Forget the cached account at once and once more when the transaction commits (the new
    row is then what the next request reads). Call it after changing the password, ``is_active``,
    ``is_staff``, ``is_superuser`` or ``language`` with ``QuerySet.update()``; ``save()`` and
    ``delete()`` call it themselves (:func:`_forget_saved_user`)."""
    if not settings.AUTH_USER_CACHE_SECONDS:
        return
    key = _auth_key(user_id)
    cache.set(key, _FORGOTTEN, FORGET_SECONDS)
    transaction.on_commit(lambda: cache.set(key, _FORGOTTEN, FORGET_SECONDS))


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="core.auth_forget_saved")
@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="core.auth_forget_deleted")
def _forget_saved_user(
    sender: Any,
    instance: Any,
    created: bool = False,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    # Every change (a password reset, the admin's deactivation, changepassword) and deletion; not
    # a new account (nothing cached yet) nor a save of other columns only (a login's last_login).
    if created or (update_fields is not None and not update_fields & _REVOKING_FIELDS):
        return
    auth_user_forget(user_id=instance.pk)


def _auth_entry(user: Any) -> dict[str, Any]:
    names = [f.attname for f in user._meta.concrete_fields if f.attname in CACHED_FIELDS]
    return {
        "fields": names,
        "values": [getattr(user, name) for name in names],
        "revoke": get_md5_hash_password(user.password),
    }


def _user_from_entry(entry: dict[str, Any]) -> Any:
    """The account with the cached columns; the first use of another reads the rest of the row
    in one query (not one query per column)."""
    user = get_user_model().from_db(DEFAULT_DB_ALIAS, entry["fields"], entry["values"])
    model_refresh = type(user).refresh_from_db

    def refresh_from_db(
        using: str | None = None, fields: Any = None, from_queryset: Any = None
    ) -> None:
        deferred = user.get_deferred_fields()
        if fields is not None and deferred and set(fields) <= deferred:
            fields = deferred
        model_refresh(user, using=using, fields=fields, from_queryset=from_queryset)

    user.refresh_from_db = refresh_from_db
    return user


class JWTAuthentication(BaseJWTAuthentication):
    """
    simplejwt's authentication, with a case-insensitive scheme (seed 000 writes ``bearer``) and
    an expired token told apart from a bad one: ``token_expired`` (refresh and try again) rather
    than ``token_not_valid`` (log in again).
    """

    def get_raw_token(self, header: bytes) -> bytes | None:
        parts = header.split()
        if not parts or parts[0].lower() not in _HEADER_TYPES:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                _("Authorization header must contain two space-delimited values."),
                code="bad_authorization_header",
            )
        return parts[1]

    def authenticate(self, request: Request) -> tuple[Any, Token] | None:
        """simplejwt's authentication; the request then speaks the account's language."""
        result = super().authenticate(request)
        if result is not None:
            language_activate_for(result[0])
        return result

    def get_user(self, validated_token: Token) -> Any:
        """simplejwt's checks (exists, active, password unchanged), the answers cached for
        ``AUTH_USER_CACHE_SECONDS`` when that is set."""
        seconds = settings.AUTH_USER_CACHE_SECONDS
        user_id = validated_token.get(api_settings.USER_ID_CLAIM)
        if not seconds or user_id is None:
            return super().get_user(validated_token)  # (which refuses a token without one)
        key = _auth_key(user_id)
        entry = cache.get(key)
        if not isinstance(entry, dict):
            try:
                user = self.user_model.objects.get(**{api_settings.USER_ID_FIELD: user_id})
            except self.user_model.DoesNotExist as exc:
                raise AuthenticationFailed(_("User not found"), code="user_not_found") from exc
            fresh = _auth_entry(user)
            if entry is None:  # not while forgotten: add() leaves the marker in place
                cache.add(key, fresh, seconds)
            entry = fresh
        else:
            user = _user_from_entry(entry)
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if (
            api_settings.CHECK_REVOKE_TOKEN
            and validated_token.get(api_settings.REVOKE_TOKEN_CLAIM) != entry["revoke"]
        ):
            raise AuthenticationFailed(
                _("The user's password has been changed."), code="password_changed"
            )
        return user

    def get_validated_token(self, raw_token: bytes) -> Token:
        """simplejwt's loop over the token classes, with ``token_expired`` for an expired token."""
        messages = []
        for token_class in api_settings.AUTH_TOKEN_CLASSES:
            try:
                return token_class(raw_token)
            except ExpiredTokenError:
                # Imported here: core.exceptions imports DRF's views, which import this module.
                from .exceptions import TokenExpired

                # Raised only once the signature checked out (PyJWT verifies it before the
                # claims): a forged token that claims to be expired is still just invalid.
                raise AuthenticationFailed(EXPIRED_MESSAGE, code=TokenExpired.code) from None
            except TokenError as exc:
                messages.append(
                    {
                        "token_class": token_class.__name__,
                        "token_type": token_class.token_type,
                        "message": exc.args[0],
                    }
                )
        raise InvalidToken(
            {"detail": _("Given token not valid for any token type"), "messages": messages}
        )
