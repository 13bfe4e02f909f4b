"""Admin for notices: every SMS notice with its text and outcome, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import BusinessAdmin, clip, customer_column, moment_column, status_column

from .models import Notice

STATUSES = {"pending": ("Pending", "warn"), "sent": ("Sent", "good"), "failed": ("Failed", "bad")}


@admin.register(Notice)
class NoticeAdmin(BusinessAdmin):
    list_display = [
        "moment_created_at",
        "customer_customer",
        "kind",
        "text_text",
        "status_pill",
        "moment_sent_at",
    ]
    list_filter = ["kind", "status", "language"]
    list_select_related = ["customer"]
    search_fields = ["phone", "text"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Notice._meta.fields]

    customer_customer = customer_column("customer")
    moment_created_at = moment_column("created_at", "made")
    moment_sent_at = moment_column("sent_at", "sent")
    status_pill = status_column("status", "status", STATUSES)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notice]:
        # Its page is titled by str(), which names the customer.
        return super().get_queryset(request).select_related("customer")

    @admin.display(description="text")
    def text_text(self, notice: Notice) -> str:
        return clip(notice.text)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Notice | None = None) -> bool:
        return False
