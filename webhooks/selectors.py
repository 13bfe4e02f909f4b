"""Reads of webhook endpoints."""

from django.db.models import QuerySet

from .models import WebhookEndpoint


def endpoint_list() -> QuerySet[WebhookEndpoint]:
    """Every endpoint, newest first."""
    return WebhookEndpoint.objects.order_by("-id")
