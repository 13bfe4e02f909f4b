"""
Rate limits on OTP sends, OTP checks and logins, per phone and per client IP, kept in Django's
cache (``CACHE_URL``). DRF answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from .phones import normalize_phone


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class PhoneRateThrottle(SimpleRateThrottle):
    """Counts requests per phone number in the body, whichever way the number is written."""

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        data = request.data
        raw = data.get("phone") if isinstance(data, dict) else None
        if not isinstance(raw, str) or not raw.strip():
            return None
        # Unparseable input still counts, under a digest that is safe as a cache key. Any string
        # hashes (a lone surrogate too): the throttle runs before validation can refuse it.
        phone = normalize_phone(raw) or _digest(raw.strip())
        return self.cache_format % {"scope": self.scope, "ident": phone}


class IPRateThrottle(SimpleRateThrottle):
    """Counts requests per client IP (``REMOTE_ADDR``, or X-Forwarded-For with ``NUM_PROXIES``)."""

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class OtpSendPhoneThrottle(PhoneRateThrottle):
    scope = "otp_send_phone"


class OtpSendIPThrottle(IPRateThrottle):
    scope = "otp_send_ip"


class OtpCheckPhoneThrottle(PhoneRateThrottle):
    scope = "otp_check_phone"


class OtpCheckIPThrottle(IPRateThrottle):
    scope = "otp_check_ip"


class LoginPhoneThrottle(PhoneRateThrottle):
    scope = "login_phone"


class LoginIPThrottle(IPRateThrottle):
    scope = "login_ip"


OTP_SEND_THROTTLES = [OtpSendPhoneThrottle, OtpSendIPThrottle]
OTP_CHECK_THROTTLES = [OtpCheckPhoneThrottle, OtpCheckIPThrottle]
LOGIN_THROTTLES = [LoginPhoneThrottle, LoginIPThrottle]
