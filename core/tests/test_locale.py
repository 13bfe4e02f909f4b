"""The Bengali catalogue shipped in the repository: complete, and its .mo compiled from its .po."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.utils import translation

from accounts.otp import MESSAGES
from core.exceptions import ApplicationError, error_classes

LOCALE = Path(settings.BASE_DIR) / "locale" / "bn" / "LC_MESSAGES"
# Modules whose messages reach customers (SMS) or clients (errors), marked for translation.
TRANSLATED_MODULES = [
    "core/exceptions.py",
    "core/authentication.py",
    "accounts/otp.py",
    "accounts/services.py",
    "accounts/serializers.py",
    "core/parsers.py",
    "core/pagination.py",
    "core/idempotency.py",
    "plans/apis.py",
    "invoices/billing.py",
    "invoices/serializers.py",
    "invoices/pdf.py",
]
MARKERS = {"_", "gettext", "gettext_lazy", "gettext_noop"}


def po_messages() -> dict[str, str]:
    with open(LOCALE / "django.po", "rb") as po:
        catalog = read_po(po)
    assert not catalog.fuzzy
    return {m.id: m.string for m in catalog if m.id}


def marked_strings(path: str) -> set[str]:
    tree = ast.parse((Path(settings.BASE_DIR) / path).read_text())
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in MARKERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(node.args[0].value)
    return found


def test_every_message_of_the_catalogue_is_translated_with_the_same_placeholders():
    messages = po_messages()

    assert len(messages) > 50
    for msgid, msgstr in messages.items():
        assert msgstr.strip(), msgid
        assert sorted(re.findall(r"{\w*}", msgid)) == sorted(re.findall(r"{\w*}", msgstr)), msgid


def test_the_compiled_catalogue_is_the_po_file():
    with open(LOCALE / "django.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)

    catalog = {k: v for k, v in compiled._catalog.items() if k}  # type: ignore[attr-defined]
    assert catalog == po_messages(), "run: msgfmt -o locale/bn/LC_MESSAGES/django.mo …django.po"


@pytest.mark.parametrize("path", TRANSLATED_MODULES)
def test_every_string_marked_for_translation_is_in_the_catalogue(path):
    missing = marked_strings(path) - set(po_messages())

    assert not missing


def test_every_sms_code_text_and_core_error_has_a_bengali_text():
    core_errors = [
        cls
        for cls in [ApplicationError, *error_classes().values()]
        if cls.__module__ == "core.exceptions" and "default_message" in vars(cls)
    ]
    assert len(core_errors) > 15
    with translation.override("bn"):
        for cls in core_errors:
            assert str(cls.default_message) != _english(cls.default_message), cls.__name__
        for text in MESSAGES.values():
            assert translation.gettext(text) != text


def _english(message: object) -> str:
    with translation.override("en"):
        return str(message)
