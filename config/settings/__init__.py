"""Settings for manage.py, WSGI and ASGI: every value comes from the environment (base.py)."""

from .base import *  # noqa: F403
