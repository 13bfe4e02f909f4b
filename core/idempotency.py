"""
``Idempotency-Key`` for writes that move money (top-up, purchase).

The first request with a key runs inside a transaction that holds the key's row, and stores its
response (any status below 500) in the same transaction. A retry with the same key and body
replays that response and moves no money; a concurrent retry waits for the first to finish. The
same key with a different body, or on another endpoint, is ``409 idempotency_key_reused``. Keys
are forgotten after ``IDEMPOTENCY_KEY_TTL`` (24 hours). What is stored is the rendered response
(bytes and content type), so a replay is byte for byte the first answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .exceptions import IdempotencyKeyReused, InvalidInput
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Retry-safe key: the same key and body replay the first response.",
)
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def request_fingerprint(request: Request) -> str:
    """What makes two requests "the same": method, route (slash or not) and the JSON body."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    route = request.path.rstrip("/")
    return hashlib.sha256(f"{request.method}\n{route}\n{body}".encode()).hexdigest()


def _read_key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _VALID_KEY.match(key):
        message = gettext("%(header)s must be 1 to 255 visible ASCII characters.") % {
            "header": HEADER
        }
        raise InvalidInput(message, errors={HEADER: [message]})
    return key


def _claim(*, user_id: int, key: str, fingerprint: str, now: datetime) -> IdempotencyKey:
    """Lock the key's row, creating it (or recycling an expired one) for a first request."""
    record, created = IdempotencyKey.objects.select_for_update().get_or_create(
        user_id=user_id, key=key, defaults={"fingerprint": fingerprint, "created_at": now}
    )
    if not created and record.created_at <= now - IDEMPOTENCY_KEY_TTL:
        record.fingerprint = fingerprint
        record.created_at = now
        record.response_status = None
        record.response_content = None
        record.response_content_type = ""
        record.save()
    return record


def idempotent(handler: Callable[..., Response]) -> Callable[..., HttpResponse]:
    """Decorate an authenticated APIView method so that it honours ``Idempotency-Key``."""

    @wraps(handler)
    def wrapper(view: APIView, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        key = _read_key(request)
        if key is None:
            return handler(view, request, *args, **kwargs)
        fingerprint = request_fingerprint(request)
        with transaction.atomic():
            record = _claim(
                user_id=request.user.pk, key=key, fingerprint=fingerprint, now=timezone.now()
            )
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    f"This {HEADER} was already used with a different request."
                )
            if record.response_status is not None:
                replay = HttpResponse(
                    bytes(record.response_content or b""),
                    status=record.response_status,
                    content_type=record.response_content_type or None,
                )
                replay["Idempotent-Replayed"] = "true"
                return replay
            try:
                with transaction.atomic():
                    response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                # A refusal (4xx) is an answer too and is replayed; anything else re-raises
                # here, rolling the key back so that the client may retry.
                response = view.handle_exception(exc)
            if response.status_code >= 500:
                transaction.set_rollback(True)
                return response
            # Render now, so that what is stored is exactly what this client receives.
            response = view.finalize_response(request, response, *args, **kwargs)
            response.render()
            record.response_status = response.status_code
            record.response_content = response.content
            record.response_content_type = response.get("Content-Type", "")
            record.save(
                update_fields=["response_status", "response_content", "response_content_type"]
            )
        return response

    return wrapper


def idempotency_keys_prune(*, now: datetime | None = None) -> int:
    """Delete keys older than the TTL; return how many."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lte=cutoff).delete()
    return deleted
