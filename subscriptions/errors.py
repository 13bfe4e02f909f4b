"""Refusals about one subscription that carry it, as the API shows it, for the client."""

from __future__ import annotations

from typing import Any

from core.exceptions import NotCancellable

from .models import Subscription


class SubscriptionNotCancellable(NotCancellable):
    def __init__(self, subscription: Subscription) -> None:
        super().__init__()
        self.subscription = subscription

    @property
    def data(self) -> Any:
        from .serializers import SubscriptionSerializer

        return SubscriptionSerializer(self.subscription).data
