"""
Settings of the development server that ``test_docs.py`` runs the README's walk-through against:
``make run``'s settings (``config.settings.base``, every value from the environment) with a fast
password hasher, so the walk-through's seven password hashes don't take most of its time.
"""

from config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
