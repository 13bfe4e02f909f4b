from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, path


def route(pattern: str, view: Callable[..., Any], name: str | None = None) -> list[URLPattern]:
    """The same view with and without the trailing slash (``APPEND_SLASH`` is off: no redirects)."""
    bare = pattern.rstrip("/")
    return [path(pattern, view, name=name), path(bare, view)]
