"""
Answers that no app owns: the index at ``/``, unknown API routes, and Django's error pages.

Everything outside the admin is the API, so Django's 400, 403, 404, 500 and CSRF failure pages
answer in the error shape there; the admin keeps Django's HTML pages.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import NoReturn

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views import csrf
from django.views import defaults as django_pages
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from .exceptions import BadRequest, RequestTooLarge, error_body

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
ADMIN_PREFIX = "/admin"

# What any other error status says when it must replace an HTML page.
_CODES = {
    400: BadRequest.code,
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: RequestTooLarge.code,
    500: "server_error",
}
_MESSAGES = {
    403: "You do not have permission to perform this action.",
    404: "There is no such API endpoint. See /api/docs/ for the list.",
    500: "Something went wrong on our side. Please try again.",
}


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def error_response(status: int, exception: BaseException | None = None) -> JsonResponse:
    """The error shape for an error ``status`` (and the exception behind it, when known)."""
    if isinstance(exception, SuspiciousOperation):
        refusal = BadRequest.refusing(exception)
        body = error_body(refusal.message, refusal.code)
        return JsonResponse(body, status=refusal.status_code)
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    code = _CODES.get(status) or phrase.lower().replace(" ", "_").replace("-", "_")
    message = _MESSAGES.get(status) or f"{phrase}."
    return JsonResponse(error_body(message, code), status=status)


# --- Django's error handlers (config.urls), used with DEBUG off ---------------------------------


def bad_request(request: HttpRequest, exception: BaseException) -> HttpResponse:
    if is_admin_path(request.path):
        return django_pages.bad_request(request, exception)
    return error_response(400, exception)


def permission_denied(request: HttpRequest, exception: BaseException) -> HttpResponse:
    if is_admin_path(request.path):
        return django_pages.permission_denied(request, exception)
    return error_response(403, exception)


def page_not_found(request: HttpRequest, exception: BaseException) -> HttpResponse:
    if is_admin_path(request.path):
        return django_pages.page_not_found(request, exception)
    return error_response(404, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """With DEBUG off, an unexpected error still answers in the contract's shape (never HTML)."""
    if is_admin_path(request.path):
        return django_pages.server_error(request)
    return error_response(500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: the API authenticates with tokens, so only the admin uses CSRF."""
    if is_admin_path(request.path):
        return csrf.csrf_failure(request, reason)
    body = error_body(f"CSRF verification failed: {reason}", "permission_denied")
    return JsonResponse(body, status=403)


# --- Routes ------------------------------------------------------------------------------------


@extend_schema(exclude=True)
@api_view(["GET", "HEAD"])
@authentication_classes([])
@permission_classes([])
def index(request: Request) -> Response:
    """``GET /``: what this service is and where its documentation lives."""
    return Response(
        {
            "message": "Subscription Billing API. Read the documentation at /api/docs/.",
            "docs": reverse("docs"),
            "schema": reverse("schema"),
            "api": "/api/v1/",
            "health": reverse("health"),
        }
    )


@extend_schema(exclude=True)
@api_view(ALL_METHODS)
@authentication_classes([])
@permission_classes([])
def api_not_found(request: Request, *args: object, **kwargs: object) -> NoReturn:
    """Unknown routes under ``/api/`` answer 404 in the error shape, never Django's HTML page."""
    raise NotFound("There is no such API endpoint. See /api/docs/ for the list.")
