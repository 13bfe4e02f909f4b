from django.contrib import admin

from .models import Plan


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "amount",
        "payment_cycle",
        "total_valid_months",
        "is_cancellable",
        "archived_at",
    )
    list_filter = ("is_cancellable", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("name",)
