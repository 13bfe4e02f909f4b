from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The outbox, read-only: events are facts, written only with the change they describe."""

    list_display = ("public_id", "type", "customer", "sequence", "occurred_at", "created_at")
    list_filter = ("type",)
    search_fields = ("public_id", "customer_phone")
    list_select_related = ("customer",)
    show_full_result_count = False
    readonly_fields = (
        "public_id",
        "type",
        "customer",
        "customer_phone",
        "sequence",
        "occurred_at",
        "created_at",
        "dispatched_at",
        "data",
        "payload",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
