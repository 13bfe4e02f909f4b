"""
Webhook endpoints, the deliveries of events to them, and every attempt at each delivery.

A delivery is one event for one endpoint (never two): the relay creates it when it fans the
event out, sends it until a 2xx answers or the retry schedule runs out, and keeps every attempt.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from events.models import Event


class WebhookEndpoint(models.Model):
    """A URL of the operator's that receives the events it subscribed to, signed with its secret."""

    url = models.URLField(max_length=2000)
    events = models.JSONField(
        default=list, blank=True, help_text="Event types it receives; empty means every type."
    )
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, help_text='"whsec_" + base64: signs deliveries.')
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # The first failure since the last success: every delivery has failed since then.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="webhook_deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Attempts since it was (re)queued: the retry schedule's position.
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A relay that claimed it sends it until then; after, another relay may take it over.
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="webhooks_one_delivery_per_event_and_endpoint"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhooks_delivery_due",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["endpoint", "-id"], name="webhooks_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        # "invoice.paid evt_… → https://…" (reads the event and the endpoint: select_related).
        return f"{self.event.type} {self.event.public_id} → {self.endpoint.url}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, as it went: its answer (capped) or why there was none."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    attempted_at = models.DateTimeField()
    url = models.URLField(max_length=2000)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["delivery", "-id"], name="webhooks_attempt_delivery")]

    def __str__(self) -> str:
        # "Attempt at 2026-12-03 14:05:09 → https://… (HTTP 500)": its own fields only.
        answer = f"HTTP {self.status_code}" if self.status_code is not None else "no answer"
        return f"Attempt at {self.attempted_at:%Y-%m-%d %H:%M:%S} → {self.url} ({answer})"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300 and not self.error
