from __future__ import annotations

from typing import Any

import factory

from accounts.models import User

DEFAULT_PASSWORD = "correct-horse-42"


class UserFactory(factory.django.DjangoModelFactory):
    """A customer whose primary phone is verified, with the password ``DEFAULT_PASSWORD``."""

    class Meta:
        model = User

    phone = factory.Sequence(lambda n: f"+88017{n:08d}")
    name = factory.Faker("name")

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        password = kwargs.pop("password", DEFAULT_PASSWORD)
        verified = kwargs.pop("phone_verified", True)
        return model_class.objects.create_user(
            kwargs.pop("phone"), password, phone_verified=verified, **kwargs
        )
