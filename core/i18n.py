"""
The customer's language: SMS and API messages follow ``User.language``.

A request starts in the language ``LocaleMiddleware`` picked from ``Accept-Language`` (English or
Bengali, else ``DEFAULT_LANGUAGE``); once the bearer token names an account, the authentication
(``core.authentication``) switches to the account's own language. Work done outside a request
for one customer (an SMS from a job) wraps itself in :func:`language_override`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from django.conf import settings
from django.utils import translation


def language_supported(code: str | None) -> str:
    """``code`` if it is one of ``LANGUAGES``, else ``DEFAULT_LANGUAGE``."""
    return code if code in dict(settings.LANGUAGES) else settings.DEFAULT_LANGUAGE


def language_override(code: str | None) -> AbstractContextManager[None]:
    """Translate in ``code`` (an account's language) inside the block, then restore the language."""
    return translation.override(language_supported(code))


def language_activate_for(user: object) -> None:
    """Switch the current request to an authenticated account's language."""
    code = getattr(user, "language", None)
    if code:
        translation.activate(language_supported(code))
