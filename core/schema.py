"""OpenAPI (drf-spectacular) glue: the auth scheme, one path per route, and error responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny

ERROR_DESCRIPTIONS = {
    400: (
        "Invalid input (`invalid`, field errors in `errors`), a body that is not JSON or is nested"
        " more than 32 levels (`parse_error`), or a business rule's 400 code."
    ),
    401: (
        "No valid token (`not_authenticated`, `token_not_valid`; `token_expired`: refresh it),"
        " or wrong credentials."
    ),
    402: "Not enough credit (`insufficient_credit`).",
    403: "Not allowed (`permission_denied`, `phone_not_verified`).",
    404: "Not found, or not yours (`not_found`); also a page past the end.",
    409: "Conflict with the current state (see the operation's codes).",
    413: "The body is larger than the server accepts (`request_too_large`).",
    415: "The body is not JSON in UTF-8 (`unsupported_media_type`).",
    429: "Too many requests (`throttled`, `otp_attempts_exceeded`); see `Retry-After`.",
}


class JWTScheme(SimpleJWTScheme):
    target_class = "core.authentication.JWTAuthentication"
    name = "jwtAuth"


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    message = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
    data = serializers.DictField(required=False, help_text="Only with `not_cancellable`.")


class AutoSchema(BaseAutoSchema):
    """
    Documents the error responses an operation can give, in the error shape. Views add the
    ones only they give (402, 409, 403 ...) with an ``error_statuses`` attribute.
    """

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for status in sorted(self._error_statuses()):
            responses.setdefault(
                str(status),
                {
                    **self._get_response_for_code(
                        ErrorSerializer, str(status), direction=direction
                    ),
                    "description": ERROR_DESCRIPTIONS[status],
                },
            )
        return responses

    def _error_statuses(self) -> set[int]:
        statuses = set(getattr(self.view, "error_statuses", ()))
        has_body = self.method in {"POST", "PUT", "PATCH"}
        has_query = self.method == "GET" and (
            getattr(self.view, "filterset_class", None)
            or getattr(self.view, "pagination_class", None)
        )
        if has_body or has_query:
            statuses.add(400)
        if has_body:
            statuses.update({413, 415})
        if "{" in self.path or (self.method == "GET" and self._is_list_view()):
            statuses.add(404)
        if any(not isinstance(p, AllowAny) for p in self.view.get_permissions()):
            statuses.update({401, 403})
        if self.view.get_throttles():
            statuses.add(429)
        return statuses


def drop_slashless_duplicates(endpoints: list[tuple[str, Any, str, Any]], **kwargs: Any) -> list:
    """Every route also answers without its trailing slash; document each operation once."""
    return [endpoint for endpoint in endpoints if endpoint[0].endswith("/")]
