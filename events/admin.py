from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import BusinessAdmin, clip, customer_column, moment_column

from .models import Event


@admin.register(Event)
class EventAdmin(BusinessAdmin):
    """The outbox, read-only: events are facts, written only with the change they describe."""

    list_display = (
        "event_id", "type", "customer_customer", "number_sequence", "moment_occurred_at",
        "moment_created_at",
    )  # fmt: skip
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

    list_display_links = ("event_id",)
    customer_customer = customer_column("customer")
    moment_occurred_at = moment_column("occurred_at", "occurred")

    @admin.display(description="event", ordering="id")
    def event_id(self, event: Event) -> str:
        return clip(event.public_id)

    moment_created_at = moment_column("created_at", "recorded")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        # Its page is titled by str(), which names the customer.
        return super().get_queryset(request).select_related("customer")

    @admin.display(description="#", ordering="sequence")
    def number_sequence(self, event: Event) -> int:
        return event.sequence

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
