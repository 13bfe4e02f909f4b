"""
Nothing outside the admin answers an HTML error page, whatever DEBUG says.

With DEBUG off, Django's error handlers (``core.views``) already answer in the error shape. With
DEBUG on, Django answers its technical HTML pages instead: this middleware, first in
``MIDDLEWARE``, answers those in the error shape too (the traceback of a 500 is still logged by
Django, ``django.request``). It also refuses an unknown Host itself, so that the answer says why
in both modes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import DisallowedHost, SuspiciousOperation
from django.http import HttpRequest, HttpResponse

from .views import error_response, is_admin_path


def _log_refusal(request: HttpRequest, exception: SuspiciousOperation) -> None:
    # As Django does, so that operators see the same security log lines.
    logging.getLogger(f"django.security.{type(exception).__name__}").error(
        str(exception), exc_info=exception, extra={"status_code": 400, "request": request}
    )


class JsonErrorsMiddleware:
    """Outside the admin: an unknown Host, and any HTML error page, become the error shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_admin_path(request.path):
            return self.get_response(request)
        try:
            # Every later step asks for the host; refuse an unknown one here, in the error shape.
            request.get_host()
        except DisallowedHost as exc:
            _log_refusal(request, exc)
            return error_response(400, exc)
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and content_type.startswith("text/html"):
            return error_response(response.status_code)
        return response
