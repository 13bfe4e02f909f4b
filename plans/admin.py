from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Plan
from .services import plan_archive, plan_restore


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name", "amount", "payment_cycle", "total_valid_months", "is_cancellable", "archived_at",
    )  # fmt: skip
    list_filter = ("is_cancellable", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("name",)
    readonly_fields = ("archived_at", "created_at", "updated_at")
    actions = ["archive", "restore"]

    def has_delete_permission(self, request: HttpRequest, obj: Plan | None = None) -> bool:
        # Subscriptions and invoices refer to plans: archive instead of deleting.
        return False

    @admin.action(description="Archive selected plans (no longer purchasable)")
    def archive(self, request: HttpRequest, queryset: QuerySet[Plan]) -> None:
        for plan in queryset:
            plan_archive(plan=plan)
        self.message_user(request, f"Archived {queryset.count()} plan(s).", messages.SUCCESS)

    @admin.action(description="Restore selected plans to the catalogue")
    def restore(self, request: HttpRequest, queryset: QuerySet[Plan]) -> None:
        for plan in queryset:
            plan_restore(plan=plan)
        self.message_user(request, f"Restored {queryset.count()} plan(s).", messages.SUCCESS)
