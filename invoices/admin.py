"""
Admin for subscriptions, invoices and the scheduler. Subscriptions are registered here, beside
the billing engine, because their actions (pause, resume, cancel) go through it; the scheduler's
jobs and executions (django_apscheduler's models) because the scheduler lives here too: they
are shown read-only, as the scheduler keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Avg, Count, DecimalField, F, OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from core.admin import (
    NOTHING,
    ReadOnlyAdmin,
    ReadOnlyInline,
    clip,
    customer_column,
    date_column,
    moment,
    moment_column,
    money_column,
    operator_message,
    seconds,
    status_column,
)
from core.exceptions import ApplicationError
from subscriptions.models import PlanChange, Subscription

from . import billing
from .models import BillingFailure, Invoice
from .pdf import invoice_pdf_render
from .scheduler import JOB_PREFIX, PRUNE_JOB_ID, SWEEP_JOB_ID

INVOICE_NUMBER = re.compile(r"^\s*(INV-\d{4}-\d+)\s*$", re.IGNORECASE)

SUBSCRIPTION_STATUSES = {
    # The list's short words (the model's labels explain them on the object's page).
    "active": ("Active", "good"),
    "past_due": ("Past due", "warn"),
    "paused": ("Paused", "quiet"),
    "suspended": ("Suspended", "bad"),
    "cancelled": ("Cancelled", "quiet"),
    "expired": ("Expired", "quiet"),
}
INVOICE_STATUSES = {
    "paid": ("Paid", "good"),
    "unpaid": ("Unpaid", "warn"),
    "void": ("Void", "quiet"),
}
CHANGE_STATUSES = {
    "scheduled": ("Scheduled", "warn"),
    "applied": ("Applied", "good"),
    "withdrawn": ("Withdrawn", "quiet"),
}
EXECUTION_STATUSES = {
    DjangoJobExecution.SUCCESS: ("Done", "good"),
    DjangoJobExecution.SENT: ("Running", "warn"),
    DjangoJobExecution.MISSED: ("Missed", "warn"),
    DjangoJobExecution.MAX_INSTANCES: ("Already running", "warn"),
    DjangoJobExecution.ERROR: ("Error", "bad"),
}
SYSTEM_JOBS = {
    SWEEP_JOB_ID: "Bills everything due, expires what ended",
    PRUNE_JOB_ID: "Deletes old runs, keys and attempts",
}


def _invoice_pdf_link(invoice: Invoice) -> str:
    url = reverse("admin:invoices_invoice_pdf", args=[invoice.pk])
    return format_html('<a href="{}" target="_blank">PDF</a>', url)


class InvoiceInline(ReadOnlyInline):
    model = Invoice
    fields = ("invoice_number", "period_index", "moment_period_start", "money_amount",
              "status_pill", "moment_paid_at", "pdf")  # fmt: skip
    ordering = ("-period_index",)

    moment_period_start = moment_column("period_start", "period start")
    money_amount = money_column("amount", "amount")
    moment_paid_at = moment_column("paid_at", "paid")
    status_pill = status_column("status", "status", INVOICE_STATUSES)

    @admin.display(description="number")
    def invoice_number(self, invoice: Invoice) -> str:
        url = reverse("admin:invoices_invoice_change", args=[invoice.pk])
        return format_html('<a href="{}">{}</a>', url, invoice.number)

    @admin.display(description="PDF")
    def pdf(self, invoice: Invoice) -> str:
        return _invoice_pdf_link(invoice)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invoice]:
        # Each row is titled by its str(), which names the customer.
        return super().get_queryset(request).select_related("user")


class PlanChangeInline(ReadOnlyInline):
    """The subscription's history of plans: every change asked for, applied or withdrawn."""

    model = PlanChange
    fk_name = "subscription"
    verbose_name = "change of plan"
    verbose_name_plural = "History of plan changes"
    fields = (
        "moment_requested_at", "change", "money_plan_amount", "when", "status_pill",
        "moment_effective_at", "money_credit_back",
    )  # fmt: skip
    ordering = ("-requested_at", "-id")

    moment_requested_at = moment_column("requested_at", "asked")
    money_plan_amount = money_column("plan_amount", "amount")
    moment_effective_at = moment_column("effective_at", "takes effect")
    money_credit_back = money_column("credit_back", "credited back")
    status_pill = status_column("status", "status", CHANGE_STATUSES)

    @admin.display(description="timing")
    def when(self, change: PlanChange) -> str:
        return "now" if change.timing == PlanChange.Timing.NOW else "at period end"

    @admin.display(description="from → to")
    def change(self, change: PlanChange) -> str:
        return f"{change.from_plan_name} → {change.plan_name}"

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlanChange]:
        return super().get_queryset(request).select_related("subscription__user")


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = (
        "number_id", "customer_user", "plan_name", "money_plan_amount", "status_pill",
        "moment_start_at", "moment_next_boundary_at",
    )  # fmt: skip
    list_display_links = ("number_id", "customer_user")
    fieldsets = (
        (None, {"fields": ("user", "plan_name", "money_plan_amount", "status")}),
        ("Terms as bought", {
            "fields": (("plan_payment_cycle", "plan_months_validity", "plan_cancellable"),),
        }),
        ("Dates", {"fields": (
            ("moment_start_at", "moment_end_at"),
            ("moment_next_boundary_at", "moment_grace_ends_at"),
            ("moment_paused_at", "moment_ended_at"),
        )}),
        ("Billing engine", {"classes": ("collapse",), "fields": (
            ("plan", "scheduled_plan"), ("moment_term_start_at", "term_first_index"),
            ("current_period_index", "period_seconds"), ("moment_created_at", "moment_updated_at"),
        )}),
    )  # fmt: skip
    list_filter = ("status", "plan")
    search_fields = ("user__phone", "user__name", "plan_name")
    list_select_related = ("user",)
    date_hierarchy = "start_at"
    inlines = [PlanChangeInline, InvoiceInline]
    actions = ["pause", "resume", "cancel"]

    customer_user = customer_column("user")
    money_plan_amount = money_column("plan_amount", "amount")
    moment_start_at = date_column("start_at", "bought")
    moment_next_boundary_at = moment_column("next_boundary_at", "next boundary")
    moment_end_at = moment_column("end_at", "term ends")
    moment_grace_ends_at = moment_column("grace_ends_at", "grace ends")
    moment_paused_at = moment_column("paused_at", "paused")
    moment_ended_at = moment_column("ended_at", "ended")
    moment_term_start_at = moment_column("term_start_at", "term start")
    moment_created_at = moment_column("created_at", "created")
    moment_updated_at = moment_column("updated_at", "updated")
    status_pill = status_column("status", "status", SUBSCRIPTION_STATUSES)

    @admin.display(description="#", ordering="id")
    def number_id(self, subscription: Subscription) -> str:
        return f"#{subscription.pk}"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscription]:
        # The object's page is titled by str(), which names the customer.
        return super().get_queryset(request).select_related("user")

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
        for subscription in queryset.select_related("user"):
            try:
                action(user_id=subscription.user_id, subscription_id=subscription.pk)
            except ApplicationError as refusal:
                self.message_user(
                    request,
                    operator_message(refusal, subject=str(subscription)),
                    messages.WARNING,
                )
            else:
                done += 1
        if done:
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
        "number", "customer_user", "plan_name", "money_amount", "status_pill", "moment_issued_at",
        "moment_paid_at", "pdf_link",
    )  # fmt: skip
    fieldsets = (
        (None, {"fields": ("number", "user", "subscription", "plan_name", "money_amount",
                           "status", "pdf_link")}),
        ("Period", {"fields": (
            "period_index", ("moment_period_start", "moment_period_end"), "moment_issued_at",
        )}),
        ("Payment", {"fields": ("moment_paid_at", "payment", "moment_voided_at", "plan_change")}),
    )  # fmt: skip
    readonly_fields = ("pdf_link",)
    list_filter = ("status", "issued_at")
    search_fields = ("number", "user__phone", "user__name", "plan_name")
    list_select_related = ("user",)
    date_hierarchy = "issued_at"

    customer_user = customer_column("user")
    money_amount = money_column("amount", "amount")
    moment_issued_at = date_column("issued_at", "issued")
    moment_paid_at = date_column("paid_at", "paid")
    moment_period_start = moment_column("period_start", "period start")
    moment_period_end = moment_column("period_end", "period end")
    moment_voided_at = moment_column("voided_at", "voided")
    status_pill = status_column("status", "status", INVOICE_STATUSES)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invoice]:
        return super().get_queryset(request).select_related("user")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        match = INVOICE_NUMBER.match(search_term)
        if match:  # a whole number: INV-2026-000123
            return queryset.filter(number__iexact=match.group(1)), False
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
        return _invoice_pdf_link(invoice)

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
        "user", "subscription_plan", "number_attempts", "moment_first_failed_at",
        "moment_last_failed_at", "text_error",
    )  # fmt: skip
    search_fields = ("user__phone", "user__name", "error")
    list_select_related = ("user", "subscription__user")

    moment_first_failed_at = moment_column("first_failed_at", "failing since")
    moment_last_failed_at = moment_column("last_failed_at", "last failure")

    @admin.display(description="subscription", ordering="subscription_id")
    def subscription_plan(self, failure: BillingFailure) -> str:
        if failure.subscription is None:
            return NOTHING
        return f"#{failure.subscription.pk} {failure.subscription.plan_name}"

    @admin.display(description="runs failed", ordering="attempts")
    def number_attempts(self, failure: BillingFailure) -> int:
        return failure.attempts

    @admin.display(description="error")
    def text_error(self, failure: BillingFailure) -> str:
        return clip(failure.error)

    def get_queryset(self, request: HttpRequest) -> QuerySet[BillingFailure]:
        return super().get_queryset(request).select_related("user", "subscription__user")


# --- the scheduler's jobs and their runs, read-only ---------------------------------------------

admin.site.unregister(DjangoJob)
admin.site.unregister(DjangoJobExecution)


def _job_subscription_id(job_id: str) -> int | None:
    if job_id.startswith(JOB_PREFIX) and job_id[len(JOB_PREFIX) :].isdigit():
        return int(job_id[len(JOB_PREFIX) :])
    return None


@admin.register(DjangoJob)
class JobAdmin(ReadOnlyAdmin):
    """
    The scheduler's jobs as it keeps them: one per serving subscription (billing at its next
    period start) and the system jobs. Nothing here is edited by hand: the scheduler creates,
    moves and removes jobs as subscriptions change, and would undo (or trip over) a hand edit.
    """

    list_display = (
        "id", "what", "state", "moment_next_run_time", "last_run", "number_runs",
        "number_average_run",
    )  # fmt: skip
    search_fields = ("id",)
    ordering = (F("next_run_time").asc(nulls_last=True), "id")  # paused jobs last
    fields = ("id", "what", "state", "moment_next_run_time", "last_run", "number_runs",
              "number_average_run", "runs")  # fmt: skip
    readonly_fields = fields
    show_full_result_count = False

    moment_next_run_time = moment_column("next_run_time", "next run")

    def get_queryset(self, request: HttpRequest) -> QuerySet[DjangoJob]:
        runs = DjangoJobExecution.objects.filter(job_id=OuterRef("pk")).order_by()
        return (
            super()
            .get_queryset(request)
            .defer("job_state")  # a pickle: never read, never unpickled here
            .annotate(
                run_count=Subquery(runs.values("job_id").annotate(n=Count("pk")).values("n")[:1]),
                last_run_at=Subquery(runs.order_by("-run_time").values("run_time")[:1]),
                average_seconds=Subquery(
                    runs.filter(duration__isnull=False)
                    .values("job_id")
                    .annotate(avg=Avg("duration"))
                    .values("avg")[:1],
                    output_field=DecimalField(max_digits=15, decimal_places=2),
                ),
            )
        )

    @admin.display(description="what it does")
    def what(self, job: DjangoJob) -> str:
        subscription_id = _job_subscription_id(job.pk)
        if subscription_id is not None:
            url = reverse("admin:subscriptions_subscription_change", args=[subscription_id])
            return format_html('Bills <a href="{}">subscription #{}</a>', url, subscription_id)
        return SYSTEM_JOBS.get(job.pk, NOTHING)

    @admin.display(description="state", ordering="next_run_time")
    def state(self, job: DjangoJob) -> str:
        if job.next_run_time is None:
            return mark_safe('<span class="status-pill quiet">Paused</span>')
        return mark_safe('<span class="status-pill good">Scheduled</span>')

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, job: DjangoJob) -> str:
        return moment(job.last_run_at)

    @admin.display(description="runs kept", ordering="run_count")
    def number_runs(self, job: DjangoJob) -> int:
        return job.run_count or 0

    @admin.display(description="average run", ordering="average_seconds")
    def number_average_run(self, job: DjangoJob) -> str:
        return seconds(job.average_seconds)

    @admin.display(description="runs")
    def runs(self, job: DjangoJob) -> str:
        url = reverse("admin:django_apscheduler_djangojobexecution_changelist")
        return format_html('<a href="{}?job__id__exact={}">Its runs</a>', url, job.pk)


@admin.register(DjangoJobExecution)
class JobExecutionAdmin(ReadOnlyAdmin):
    """Each run of a job, as the scheduler recorded it (the prune job deletes old ones)."""

    list_display = ("moment_run_time", "job_link", "status_pill", "run_seconds", "text_exception")
    list_filter = ("status",)
    search_fields = ("job__id", "exception")
    date_hierarchy = "run_time"
    show_full_result_count = False
    fields = ("job_link", "status_pill", "moment_run_time", "run_seconds", "exception",
              "traceback")  # fmt: skip
    readonly_fields = fields

    moment_run_time = moment_column("run_time", "run at")
    status_pill = status_column("status", "status", EXECUTION_STATUSES)

    @admin.display(description="job", ordering="job_id")
    def job_link(self, execution: DjangoJobExecution) -> str:
        url = reverse("admin:django_apscheduler_djangojob_change", args=[execution.job_id])
        return format_html('<a href="{}">{}</a>', url, execution.job_id)

    @admin.display(description="took", ordering="duration")
    def run_seconds(self, execution: DjangoJobExecution) -> str:
        return seconds(execution.duration)

    @admin.display(description="error")
    def text_exception(self, execution: DjangoJobExecution) -> str:
        return clip(execution.exception)
