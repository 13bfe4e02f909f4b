"""Reads of notices."""

from django.db.models import QuerySet

from .models import Notice


def notice_list(*, customer_id: int) -> QuerySet[Notice]:
    """The customer's notices, newest first."""
    return Notice.objects.filter(customer_id=customer_id).order_by("-created_at", "-id")
