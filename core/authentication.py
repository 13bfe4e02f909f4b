from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPE_BYTES
from rest_framework_simplejwt.authentication import JWTAuthentication as BaseJWTAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from .i18n import language_activate_for

_HEADER_TYPES = {header_type.lower() for header_type in AUTH_HEADER_TYPE_BYTES}
EXPIRED_MESSAGE = _("The access token has expired. Get a new one from auth/refresh/.")


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
