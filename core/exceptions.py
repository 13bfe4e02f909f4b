"""
One error shape for the whole API: ``{"message", "code", "errors"}``, and one registry of errors.

Every refusal a service can raise is a class below (zulip style): its ``code`` and HTTP status are
class attributes, its default message says what happened, and an error about one input field
(``field``) fills ``errors`` itself. A refusal that carries ``data`` builds it in its own class.
DRF's own exceptions and Django's ``Http404`` and ``PermissionDenied`` are translated here too, so
a client only ever parses one shape. :data:`ERROR_CODES` lists every code the API answers with.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.core.exceptions import (
    NON_FIELD_ERRORS,
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .formatting import format_money
from .i18n import language_supported


class ApplicationError(Exception):
    """A business rule said no. Subclasses set ``code``, ``status_code`` and ``default_message``."""

    code: ClassVar[str] = "invalid"
    status_code: ClassVar[int] = status.HTTP_400_BAD_REQUEST
    default_message: ClassVar[str] = _("The request is not valid.")
    # The input field the refusal is about: ``errors`` then says {field: [message]}.
    field: ClassVar[str | None] = None

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        # Rendered now, in the language of the request (or of the customer) being served.
        self.message = str(message or self.default_message)
        super().__init__(self.message)
        if errors is None and self.field is not None:
            errors = {self.field: [self.message]}
        self.errors = errors
        self.headers = headers or {}

    @property
    def data(self) -> Any:
        """Extra data for the client (``{"data": …}`` in the body); None for most refusals."""
        return None


def _money(amount: Decimal) -> str:
    """An amount in a message, written for the language of the message (``1,200.00``)."""
    return format_money(amount, language_supported(get_language()))


# --- 400 ---------------------------------------------------------------------------------------


class InvalidInput(ApplicationError):
    code = "invalid"


class SamePlan(ApplicationError):
    code = "same_plan"
    default_message = _("The subscription is already on this plan.")


class ParseError(ApplicationError):
    code = "parse_error"
    default_message = _("The request body is not valid JSON.")


class BadRequest(ApplicationError):
    """A request Django refuses before any view reads it (unknown Host, too many parameters)."""

    code = "bad_request"
    default_message = _("The request is malformed.")

    @classmethod
    def refusing(cls, exc: SuspiciousOperation) -> ApplicationError:
        """Django's refusal of the request itself, as the client should read it."""
        if isinstance(exc, RequestDataTooBig):
            return RequestTooLarge()
        if isinstance(exc, DisallowedHost):
            return cls(
                gettext("This service does not answer to that Host header (see ALLOWED_HOSTS).")
            )
        if isinstance(exc, TooManyFieldsSent):
            return cls(
                gettext("Too many query or form parameters (see DATA_UPLOAD_MAX_NUMBER_FIELDS).")
            )
        if isinstance(exc, TooManyFilesSent):
            return cls(gettext("Too many files in the request."))
        return cls()


class PhoneTaken(ApplicationError):
    code = "phone_taken"
    default_message = _("This phone number is already registered.")
    field = "phone"


class PhoneLimitReached(ApplicationError):
    code = "phone_limit_reached"
    field = "phone"


class PhoneNotVerifiedForPrimary(ApplicationError):
    code = "phone_not_verified"
    default_message = _("Verify this phone number before making it primary.")

    def __init__(self) -> None:
        super().__init__(errors={"phone": [gettext("This phone number is not verified.")]})


class OtpInvalid(ApplicationError):
    code = "otp_invalid"
    default_message = _("The code is not valid.")
    field = "otp"


class OtpExpired(ApplicationError):
    code = "otp_expired"
    default_message = _("The code has expired. Ask for a new one.")

    def __init__(self) -> None:
        super().__init__(errors={"otp": [gettext("The code has expired.")]})


class BalanceLimitExceeded(ApplicationError):
    code = "balance_limit_exceeded"
    field = "amount"

    def __init__(self, *, limit: Decimal) -> None:
        super().__init__(gettext("The balance can't exceed {limit}.").format(limit=_money(limit)))
        self.limit = limit


# --- 401, 402, 403, 404 ---------------------------------------------------------------------


class InvalidCredentials(ApplicationError):
    code = "invalid_credentials"
    status_code = status.HTTP_401_UNAUTHORIZED
    default_message = _("No active account found with the given phone and password.")


class TokenNotValid(ApplicationError):
    code = "token_not_valid"
    status_code = status.HTTP_401_UNAUTHORIZED
    default_message = _("Token is invalid or expired.")


class TokenExpired(ApplicationError):
    code = "token_expired"
    status_code = status.HTTP_401_UNAUTHORIZED
    default_message = _("The token has expired.")


class InsufficientCredit(ApplicationError):
    code = "insufficient_credit"
    status_code = status.HTTP_402_PAYMENT_REQUIRED

    def __init__(self, *, needed: Decimal, balance: Decimal) -> None:
        super().__init__(
            gettext("Your credit ({balance}) does not cover {needed}. Please top up.").format(
                balance=_money(balance), needed=_money(needed)
            )
        )
        self.needed = needed
        self.balance = balance


class PermissionDeniedError(ApplicationError):
    code = "permission_denied"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = _("You do not have permission to perform this action.")


class PhoneNotVerified(ApplicationError):
    code = "phone_not_verified"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = _("Verify your phone with the code we texted you before logging in.")


class NotFoundError(ApplicationError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    default_message = _("Not found.")


# --- 409 ---------------------------------------------------------------------------------------


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT


class RegistrationPending(Conflict):
    code = "registration_pending"
    default_message = _(
        "This phone number is waiting for its verification code. Enter the code, ask for it"
        " again with resend-otp, or register once it has expired."
    )
    field = "phone"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class AlreadySubscribed(Conflict):
    code = "already_subscribed"
    default_message = _("You already have a live subscription to this plan.")


class SubscriptionEnded(Conflict):
    code = "subscription_ended"

    def __init__(self, *, status: str) -> None:
        super().__init__(
            gettext("This subscription is {status}; it can't change any more.").format(
                status=status
            )
        )


class NotCancellable(Conflict):
    """Carries the subscription as the API shows it (``data``), built by the app that owns it."""

    code = "not_cancellable"
    default_message = _("Plan is not cancellable")


# --- 413 ---------------------------------------------------------------------------------------


class RequestTooLarge(ApplicationError):
    code = "request_too_large"
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_message = _("The request body is too large.")


# --- 429 ---------------------------------------------------------------------------------------


class ThrottledError(ApplicationError):
    code = "throttled"
    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, message: str, *, wait_seconds: int) -> None:
        wait_seconds = max(1, int(wait_seconds))
        super().__init__(message, headers={"Retry-After": str(wait_seconds)})
        self.wait_seconds = wait_seconds


class OtpAttemptsExceeded(ApplicationError):
    code = "otp_attempts_exceeded"
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_message = _("Too many wrong codes. Ask for a new one.")


def _registry(root: type[ApplicationError]) -> dict[str, type[ApplicationError]]:
    found: dict[str, type[ApplicationError]] = {}
    for cls in root.__subclasses__():
        found.setdefault(cls.code, cls)
        found.update({k: v for k, v in _registry(cls).items() if k not in found})
    return found


def error_classes() -> dict[str, type[ApplicationError]]:
    """Every error code a service can raise, with its class (apps' subclasses included)."""
    return dict(sorted(_registry(ApplicationError).items()))


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
    message = _first_message(detail) or gettext("The request is not valid.")
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
        message = gettext("Too many requests. Try again in {wait} seconds.").format(
            wait=max(1, round(exc.wait))
        )
        code = "throttled"
    return error_body(message, code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: every handled error leaves in the contract's shape."""
    if isinstance(exc, SuspiciousOperation):
        # Raised when a view reads the query (TooManyFieldsSent): a 400, with DEBUG on too.
        exc = BadRequest.refusing(exc)
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
        # Django names errors about no one field "__all__"; the API calls them "non_field_errors".
        errors = (
            exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
        )
        errors = {"non_field_errors" if k == NON_FIELD_ERRORS else k: v for k, v in errors.items()}
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
