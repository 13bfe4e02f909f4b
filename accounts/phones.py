"""Reading phone numbers from requests: national input is read in ``PHONE_DEFAULT_REGION``."""

from __future__ import annotations

import phonenumbers
from django.conf import settings


def normalize_phone(raw: object) -> str | None:
    """The E.164 form of ``raw``, or ``None`` if it is not a valid phone number."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        return None
    try:
        number = phonenumbers.parse(raw, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
