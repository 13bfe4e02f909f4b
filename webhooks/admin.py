"""
Admin for webhooks: endpoints (edit, rotate the secret), their deliveries with every attempt
(read-only), and an action that sends deliveries again.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from core.admin import (
    NOTHING,
    BusinessAdmin,
    ReadOnlyInline,
    clip,
    moment_column,
    status_column,
)
from events.models import EventType

from . import services
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .sending import url_refusal

DELIVERY_STATUSES = {
    "pending": ("Pending", "warn"),
    "succeeded": ("Delivered", "good"),
    "failed": ("Failed", "bad"),
}


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    events = forms.TypedMultipleChoiceField(
        choices=EventType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "description", "is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        refusal = url_refusal(url)
        if refusal:
            raise forms.ValidationError(refusal)
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(BusinessAdmin):
    form = WebhookEndpointForm
    list_display = (
        "text_url", "is_active", "event_types", "number_pending", "number_failed",
        "moment_failing_since", "text_disabled_reason",
    )  # fmt: skip
    list_display_links = ("text_url",)
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    readonly_fields = (
        "secret", "created_at", "failing_since", "disabled_at", "disabled_reason", "deliveries",
    )  # fmt: skip
    actions = ["rotate_secret"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending_count=Count("deliveries", filter=Q(deliveries__status="pending")),
                failed_count=Count("deliveries", filter=Q(deliveries__status="failed")),
            )
        )

    moment_failing_since = moment_column("failing_since", "failing since")

    @admin.display(description="URL", ordering="url")
    def text_url(self, endpoint: WebhookEndpoint) -> str:
        return clip(endpoint.url)

    @admin.display(description="why disabled")
    def text_disabled_reason(self, endpoint: WebhookEndpoint) -> str:
        return clip(endpoint.disabled_reason)

    @admin.display(description="events")
    def event_types(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events) or "all"

    @admin.display(description="pending", ordering="pending_count")
    def number_pending(self, endpoint: WebhookEndpoint) -> int:
        return endpoint.pending_count

    @admin.display(description="failed", ordering="failed_count")
    def number_failed(self, endpoint: WebhookEndpoint) -> int:
        return endpoint.failed_count

    @admin.display(description="deliveries")
    def deliveries(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.pk is None:
            return "-"
        url = reverse("admin:webhooks_webhookdelivery_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">Its deliveries and attempts</a>',
                           url, endpoint.pk)  # fmt: skip

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: forms.ModelForm, change: bool
    ) -> None:
        data = {name: form.cleaned_data[name] for name in WebhookEndpointForm.Meta.fields}
        if change:
            saved = services.endpoint_update(endpoint_id=obj.pk, **data)
        else:
            is_active = data.pop("is_active")
            saved = services.endpoint_create(**data)
            if not is_active:
                saved = services.endpoint_update(endpoint_id=saved.pk, is_active=False)
        obj.pk = saved.pk
        obj.refresh_from_db()

    @admin.action(description="Give selected endpoints a new secret")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.endpoint_rotate_secret(endpoint_id=endpoint.pk)
        self.message_user(request, f"New secret for {len(queryset)} endpoint(s).", messages.SUCCESS)


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = (
        "moment_attempted_at", "status_code", "number_latency_ms", "error", "response_excerpt",
    )  # fmt: skip
    moment_attempted_at = moment_column("attempted_at", "at")

    @admin.display(description="latency (ms)")
    def number_latency_ms(self, attempt: WebhookAttempt) -> int:
        return attempt.latency_ms

    ordering = ("-id",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(BusinessAdmin):
    """Read-only; the action sends the selected deliveries again (same webhook-id and body)."""

    list_display = (
        "event", "event_type", "text_endpoint", "status_pill", "number_attempts",
        "moment_next_attempt_at", "moment_delivered_at",
    )  # fmt: skip
    list_filter = ("status", "event__type", "endpoint")
    search_fields = ("event__public_id", "endpoint__url")
    list_select_related = ("event__customer", "endpoint")
    show_full_result_count = False
    fields = (
        "event", "endpoint", "status", "attempts", "next_attempt_at", "lease_until",
        "delivered_at", "created_at",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    status_pill = status_column("status", "status", DELIVERY_STATUSES)
    moment_next_attempt_at = moment_column("next_attempt_at", "next attempt")
    moment_delivered_at = moment_column("delivered_at", "delivered")

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        # Its page is titled by str(), which names the event, its customer and the endpoint.
        return super().get_queryset(request).select_related("event__customer", "endpoint")

    @admin.display(description="endpoint", ordering="endpoint__url")
    def text_endpoint(self, delivery: WebhookDelivery) -> str:
        return clip(delivery.endpoint.url)

    @admin.display(description="attempts", ordering="attempts")
    def number_attempts(self, delivery: WebhookDelivery) -> int:
        return delivery.attempts

    @admin.display(description="type", ordering="event__type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the action; the change form itself shows the fields read-only.
        return obj is None and request.user.has_perm("webhooks.change_webhookdelivery")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Send selected deliveries again")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = services.deliveries_redeliver(
            delivery_ids=list(queryset.values_list("pk", flat=True))
        )
        self.message_user(request, f"{count} delivery(ies) will be sent again.", messages.SUCCESS)


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(BusinessAdmin):
    list_display = (
        "moment_attempted_at", "delivery", "number_status_code", "number_latency_ms", "text_error",
    )  # fmt: skip
    list_filter = ("status_code",)
    list_select_related = ("delivery__event__customer", "delivery__endpoint")
    show_full_result_count = False
    readonly_fields = (
        "delivery", "attempted_at", "url", "status_code", "latency_ms", "error", "response_excerpt",
    )  # fmt: skip

    moment_attempted_at = moment_column("attempted_at", "at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookAttempt]:
        related = ("delivery__event__customer", "delivery__endpoint")
        return super().get_queryset(request).select_related(*related)

    @admin.display(description="HTTP status", ordering="status_code")
    def number_status_code(self, attempt: WebhookAttempt) -> int | str:
        return attempt.status_code if attempt.status_code is not None else NOTHING

    @admin.display(description="latency (ms)", ordering="latency_ms")
    def number_latency_ms(self, attempt: WebhookAttempt) -> int:
        return attempt.latency_ms

    @admin.display(description="error")
    def text_error(self, attempt: WebhookAttempt) -> str:
        return clip(attempt.error)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
