"""Admin for notices: every SMS notice with its text and outcome, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import Notice


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "customer",
        "kind",
        "text",
        "status",
        "attempts",
        "sent_at",
    ]
    list_filter = ["kind", "status", "language"]
    list_select_related = ["customer"]
    search_fields = ["phone", "text"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Notice._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Notice | None = None) -> bool:
        return False
