"""
One error shape for the whole API: ``{"message", "code", "errors"}``.

Services raise :class:`ApplicationError`; DRF's own exceptions and Django's ``Http404`` and
``PermissionDenied`` are translated here too, so a client only ever parses one shape.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApplicationError(Exception):
    """A business rule said no. Carries the HTTP status and the stable ``code`` of the contract."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status_code: int | None = None,
        errors: dict[str, list[str]] | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.errors = errors
        self.data = data
        self.headers = headers or {}


class NotFoundError(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND

    def __init__(self, message: str = "Not found.", **kwargs: Any) -> None:
        super().__init__(message, code=kwargs.pop("code", "not_found"), **kwargs)


class ThrottledError(ApplicationError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, message: str, *, wait_seconds: int, code: str = "throttled") -> None:
        wait_seconds = max(1, int(wait_seconds))
        super().__init__(message, code=code, headers={"Retry-After": str(wait_seconds)})
        self.wait_seconds = wait_seconds


def error_body(message: str, code: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return body


def _first_message(errors: Any) -> str | None:
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            if message:
                return message if field == "non_field_errors" else f"{field}: {message}"
    elif isinstance(errors, list):
        for value in errors:
            message = _first_message(value)
            if message:
                return message
    elif errors:
        return str(errors)
    return None


def _validation_body(exc: exceptions.ValidationError) -> dict[str, Any]:
    detail = exc.detail
    if not isinstance(detail, dict):
        detail = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
    message = _first_message(detail) or "The request is not valid."
    return error_body(message, "invalid", detail)


def _api_exception_body(exc: exceptions.APIException) -> dict[str, Any]:
    detail = exc.detail
    # simplejwt's InvalidToken carries {"detail", "code", "messages"}.
    if isinstance(detail, dict):
        message = str(detail.get("detail") or _first_message(detail) or exc.default_detail)
        code = str(detail.get("code") or exc.default_code)
    elif isinstance(detail, list):
        message = _first_message(detail) or str(exc.default_detail)
        code = exc.default_code
    else:
        message = str(detail)
        code = getattr(detail, "code", None) or exc.default_code
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        message = f"Too many requests. Try again in {max(1, round(exc.wait))} seconds."
        code = "throttled"
    return error_body(message, code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: every handled error leaves in the contract's shape."""
    if isinstance(exc, ApplicationError):
        body = error_body(exc.message, exc.code, exc.errors)
        if exc.data is not None:
            body["data"] = exc.data
        return Response(body, status=exc.status_code, headers=exc.headers)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        # A model's full_clean() in a service: same 400 as a serializer's validation.
        errors = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(errors)

    # DRF sets WWW-Authenticate and Retry-After headers and rolls back the transaction.
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc)
    elif isinstance(exc, exceptions.APIException):
        response.data = _api_exception_body(exc)
    return response
