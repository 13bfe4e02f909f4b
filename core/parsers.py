"""
The API's JSON parser: DRF's, made safe for whatever a client sends.

DRF's parser reads any body size, decodes with any codec the client names (``charset=zlib``
inflates), lets ``json`` recurse until the interpreter gives up (a 500), and hands lone UTF-16
surrogates (``"\\ud800"``) to code that encodes them (hashing, the database: a 500). This one
answers each of those with a 4xx in the contract's shape, before any view sees the data.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from django.conf import settings
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext as _
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

# The module, not its names: core.exceptions imports rest_framework.views, which loads this
# parser (DEFAULT_PARSER_CLASSES) while core.exceptions is still being imported.
from . import exceptions as errors

# Request bodies are flat objects (two levels at most today): 32 is generous and far below the
# interpreter's recursion limit (1000), which ``json`` would otherwise reach with a 500.
MAX_DEPTH = 32
_UTF8_NAMES = {"utf-8", "ascii"}  # codecs.lookup() names; ASCII is a subset of UTF-8


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _is_text(value: str) -> bool:
    """False for a string holding an unpaired surrogate: it has no UTF-8 form."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_text(field: str | None) -> errors.InvalidInput:
    reason = _("Not valid text: it contains an unpaired UTF-16 surrogate (\\ud800 to \\udfff).")
    field = field or "non_field_errors"
    message = reason if field == "non_field_errors" else f"{field}: {reason}"
    return errors.InvalidInput(message, errors={field: [reason]})


def _too_deep() -> errors.ParseError:
    return errors.ParseError(
        _("The JSON body is nested more than %(depth)s levels deep.") % {"depth": MAX_DEPTH}
    )


def _too_large(limit: int) -> errors.RequestTooLarge:
    return errors.RequestTooLarge(f"The request body is larger than {limit} bytes.")


def _announced_length(parser_context: dict[str, Any] | None) -> int:
    request = (parser_context or {}).get("request")
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
    except ValueError:
        return 0


def check_parsed(data: Any) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and strings that are not valid Unicode."""
    # Iterative, so that checking can't recurse either. ``field`` is the top-level key a value
    # belongs to, named in the error (never a key that is itself invalid).
    stack: list[tuple[Any, int, str | None]] = [(data, 1, None)]
    while stack:
        value, depth, field = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                raise _too_deep()
            for key, item in value.items():
                if not _is_text(key):
                    raise _not_text(field)
                stack.append((item, depth + 1, field if depth > 1 else key))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                raise _too_deep()
            stack.extend((item, depth + 1, field) for item in value)
        elif isinstance(value, str) and not _is_text(value):
            raise _not_text(field)


class JSONParser(BaseParser):
    """UTF-8 JSON, at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes and ``MAX_DEPTH`` levels."""

    media_type = "application/json"
    renderer_class = JSONRenderer

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        charset = parse_header_parameters(media_type or "")[1].get("charset")
        if charset is not None:
            try:
                name = codecs.lookup(charset).name
            except LookupError:
                name = None
            if name not in _UTF8_NAMES:
                raise UnsupportedMediaType(
                    media_type, detail="Send JSON encoded in UTF-8 (charset=utf-8, or no charset)."
                )

        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # A body announced too large is refused before any of it is read (as Django does for
        # forms), and reading stops at the limit whatever the announced length.
        if limit is not None and _announced_length(parser_context) > limit:
            raise _too_large(limit)
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise _too_large(limit)

        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.ParseError(_("The request body is not valid UTF-8.")) from None
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise _too_deep() from None
        except ValueError as exc:
            raise errors.ParseError(f"The request body is not valid JSON: {exc}.") from None
        check_parsed(data)
        return data
