from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import mark_safe

from core.admin import BusinessAdmin, moment_column, money_column

from .models import Plan
from .services import plan_archive, plan_restore


@admin.register(Plan)
class PlanAdmin(BusinessAdmin):
    list_display = (
        "name", "money_amount", "number_payment_cycle", "number_total_valid_months",
        "is_cancellable", "catalogue", "moment_archived_at",
    )  # fmt: skip
    list_filter = ("is_cancellable", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("name",)
    readonly_fields = ("archived_at", "created_at", "updated_at")
    actions = ["archive", "restore"]

    money_amount = money_column("amount", "amount")
    moment_archived_at = moment_column("archived_at", "archived")

    @admin.display(description="days per cycle", ordering="payment_cycle")
    def number_payment_cycle(self, plan: Plan) -> int:
        return plan.payment_cycle

    @admin.display(description="cycles", ordering="total_valid_months")
    def number_total_valid_months(self, plan: Plan) -> int:
        return plan.total_valid_months

    @admin.display(description="catalogue", ordering="archived_at")
    def catalogue(self, plan: Plan) -> str:
        if plan.is_archived:
            return mark_safe('<span class="status-pill quiet">Archived</span>')
        return mark_safe('<span class="status-pill good">On sale</span>')

    def has_delete_permission(self, request: HttpRequest, obj: Plan | None = None) -> bool:
        # Subscriptions and invoices refer to plans: archive instead of deleting.
        return False

    @admin.action(description="Archive selected plans (no longer purchasable)")
    def archive(self, request: HttpRequest, queryset: QuerySet[Plan]) -> None:
        done = []
        for plan in queryset:
            if plan.is_archived:
                self.message_user(request, f"{plan.name}: already archived.", messages.INFO)
                continue
            plan_archive(plan=plan)
            done.append(plan.name)
        if done:
            self.message_user(
                request,
                f"Archived {', '.join(done)}: no longer on sale; its subscriptions go on.",
                messages.SUCCESS,
            )

    @admin.action(description="Restore selected plans to the catalogue")
    def restore(self, request: HttpRequest, queryset: QuerySet[Plan]) -> None:
        done = []
        for plan in queryset:
            if not plan.is_archived:
                self.message_user(request, f"{plan.name}: already on sale.", messages.INFO)
                continue
            plan_restore(plan=plan)
            done.append(plan.name)
        if done:
            self.message_user(
                request, f"Restored {', '.join(done)} to the catalogue.", messages.SUCCESS
            )
