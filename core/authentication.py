from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPE_BYTES
from rest_framework_simplejwt.authentication import JWTAuthentication as BaseJWTAuthentication

_HEADER_TYPES = {header_type.lower() for header_type in AUTH_HEADER_TYPE_BYTES}


class JWTAuthentication(BaseJWTAuthentication):
    """simplejwt's authentication, with a case-insensitive scheme (seed 000 writes ``bearer``)."""

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
