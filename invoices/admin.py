"""
Admin for subscriptions and invoices. Subscriptions are registered here, beside the billing
engine, because their actions (pause, resume, cancel) go through it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from core.admin import ReadOnlyInline
from core.exceptions import ApplicationError
from subscriptions.models import Subscription

from . import billing
from .models import BillingFailure, Invoice
from .pdf import invoice_pdf_render

INVOICE_NUMBER = re.compile(r"^\s*INV-0*(\d{1,18})\s*$", re.IGNORECASE)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class InvoiceInline(ReadOnlyInline):
    model = Invoice
    fields = ("number", "period_index", "period_start", "amount", "status", "paid_at")
    ordering = ("-period_index",)


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "user", "plan_name", "plan_amount", "status", "start_at", "next_boundary_at",
    )  # fmt: skip
    list_filter = ("status", "plan")
    search_fields = ("user__phone", "user__name", "plan_name")
    list_select_related = ("user",)
    date_hierarchy = "start_at"
    inlines = [InvoiceInline]
    actions = ["pause", "resume", "cancel"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the actions; the change form itself shows the fields read-only.
        return obj is None and request.user.has_perm("subscriptions.change_subscription")

    def _run(
        self,
        request: HttpRequest,
        queryset: QuerySet[Subscription],
        action: Callable[..., Subscription],
        verb: str,
    ) -> None:
        done = 0
        for subscription in queryset:
            try:
                action(user_id=subscription.user_id, subscription_id=subscription.pk)
            except ApplicationError as refusal:
                self.message_user(
                    request, f"#{subscription.pk}: {refusal.message}", messages.WARNING
                )
            else:
                done += 1
        self.message_user(request, f"{verb} {done} subscription(s).", messages.SUCCESS)

    @admin.action(description="Pause selected subscriptions")
    def pause(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._run(request, queryset, billing.subscription_pause, "Paused")

    @admin.action(description="Resume selected subscriptions (bills the current period if due)")
    def resume(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._run(request, queryset, billing.subscription_reactivate, "Resumed")

    @admin.action(description="Cancel selected subscriptions (cancellable plans only)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._run(request, queryset, billing.subscription_cancel, "Cancelled")


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = (
        "number", "user", "plan_name", "amount", "status", "issued_at", "paid_at", "pdf_link",
    )  # fmt: skip
    readonly_fields = ("pdf_link",)
    list_filter = ("status", "issued_at")
    search_fields = ("number", "user__phone", "user__name", "plan_name")
    list_select_related = ("user",)
    date_hierarchy = "issued_at"

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        match = INVOICE_NUMBER.match(search_term)
        if match:  # the number is the id: INV-000123
            return queryset.filter(pk=int(match.group(1))), False
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self) -> list[URLPattern]:
        pdf = path(
            "<path:object_id>/pdf/",
            self.admin_site.admin_view(self.pdf_view),
            name="invoices_invoice_pdf",
        )
        return [pdf, *super().get_urls()]

    @admin.display(description="PDF")
    def pdf_link(self, invoice: Invoice) -> str:
        url = reverse(f"{self.admin_site.name}:invoices_invoice_pdf", args=[invoice.pk])
        return format_html('<a href="{}" target="_blank">PDF</a>', url)

    def pdf_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The invoice as its customer gets it (in their language), for staff who may view it."""
        invoice = self.get_object(request, unquote(object_id))
        if invoice is None:
            raise Http404
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        invoice = Invoice.objects.select_related("user", "plan_change").get(pk=invoice.pk)
        return HttpResponse(
            invoice_pdf_render(invoice=invoice),
            content_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'},
        )


@admin.register(BillingFailure)
class BillingFailureAdmin(ReadOnlyAdmin):
    """Customers whose billing fails: each run retries them; a clean run removes the row."""

    list_display = (
        "user", "subscription", "attempts", "first_failed_at", "last_failed_at", "error",
    )  # fmt: skip
    search_fields = ("user__phone", "user__name", "error")
    list_select_related = ("user", "subscription")
