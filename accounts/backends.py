from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from .models import User
from .selectors import user_get_by_verified_phone


class PhoneBackend(ModelBackend):
    """Authenticates with any verified phone of the account (the API's login and the admin's)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        phone: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        phone = phone or username or kwargs.get(User.USERNAME_FIELD)
        if not phone or password is None:
            return None
        user = user_get_by_verified_phone(phone=phone)
        if user is None:
            # Hash anyway so the answer takes as long as for a real account.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
