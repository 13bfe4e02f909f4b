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

from core.admin import ReadOnlyInline
from events.models import EventType

from . import services
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .sending import url_refusal


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
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = (
        "url", "is_active", "event_types", "pending", "failed", "failing_since", "disabled_reason",
    )  # fmt: skip
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

    @admin.display(description="events")
    def event_types(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events) or "all"

    @admin.display(description="pending", ordering="pending_count")
    def pending(self, endpoint: WebhookEndpoint) -> int:
        return endpoint.pending_count

    @admin.display(description="failed", ordering="failed_count")
    def failed(self, endpoint: WebhookEndpoint) -> int:
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
    fields = ("attempted_at", "status_code", "latency_ms", "error", "response_excerpt")
    ordering = ("-id",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Read-only; the action sends the selected deliveries again (same webhook-id and body)."""

    list_display = (
        "event", "event_type", "endpoint", "status", "attempts", "next_attempt_at", "delivered_at",
    )  # fmt: skip
    list_filter = ("status", "event__type", "endpoint")
    search_fields = ("event__public_id", "endpoint__url")
    list_select_related = ("event", "endpoint")
    show_full_result_count = False
    fields = (
        "event", "endpoint", "status", "attempts", "next_attempt_at", "lease_until",
        "delivered_at", "created_at",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

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
class WebhookAttemptAdmin(admin.ModelAdmin):
    list_display = ("delivery", "attempted_at", "status_code", "latency_ms", "error")
    list_filter = ("status_code",)
    list_select_related = ("delivery",)
    show_full_result_count = False
    readonly_fields = (
        "delivery", "attempted_at", "url", "status_code", "latency_ms", "error", "response_excerpt",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
