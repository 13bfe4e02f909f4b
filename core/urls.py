from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, path, register_converter


class IdConverter:
    """A database id: at most 18 digits, so a huge number is a 404, not a database overflow."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")


def route(pattern: str, view: Callable[..., Any], name: str | None = None) -> list[URLPattern]:
    """The same view with and without the trailing slash (``APPEND_SLASH`` is off: no redirects)."""
    bare = pattern.rstrip("/")
    return [path(pattern, view, name=name), path(bare, view)]
