"""
The outbox: one row per domain event, written in the transaction of the change it describes.

An event is recorded only through ``events.services.event_record``; it never changes afterwards,
except ``dispatched_at``, which the webhook relay sets once it has fanned the event out.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class EventType(models.TextChoices):
    SUBSCRIPTION_CREATED = "subscription.created"
    SUBSCRIPTION_PAUSED = "subscription.paused"
    SUBSCRIPTION_RESUMED = "subscription.resumed"
    SUBSCRIPTION_SUSPENDED = "subscription.suspended"
    SUBSCRIPTION_PAST_DUE = "subscription.past_due"
    SUBSCRIPTION_CANCELLED = "subscription.cancelled"
    SUBSCRIPTION_EXPIRED = "subscription.expired"
    SUBSCRIPTION_PLAN_CHANGED = "subscription.plan_changed"
    INVOICE_CREATED = "invoice.created"
    INVOICE_PAID = "invoice.paid"
    INVOICE_VOIDED = "invoice.voided"
    CREDIT_TOPPED_UP = "credit.topped_up"
    CREDIT_ADJUSTED = "credit.adjusted"
    CREDIT_PRORATED = "credit.prorated"


class Event(models.Model):
    """Something that happened to a customer's money or subscriptions, as receivers see it."""

    id = models.BigAutoField(primary_key=True)  # internal order; the API shows public_id
    # Unique by a constraint, not unique=True: that adds an index for LIKE 'prefix%' queries,
    # which nothing makes, to every insert.
    public_id = models.CharField(max_length=40, help_text='"evt_" + 32 hex digits.')
    type = models.CharField(max_length=64, choices=EventType.choices)
    # No index of its own: events_sequence_per_customer (customer, sequence) serves lookups by
    # customer, the last sequence (scanned backwards) included.
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    customer_phone = models.CharField(max_length=32, help_text="E.164, at the time of the event.")
    sequence = models.PositiveBigIntegerField(help_text="1, 2, 3… per customer, without gaps.")
    occurred_at = models.DateTimeField(help_text="Business time: when it happened in the books.")
    created_at = models.DateTimeField(help_text="When it was recorded.")
    data = models.JSONField(help_text="The object as the API shows it.")
    # The exact body receivers get, rendered once: a redelivery sends the same bytes.
    payload = models.TextField()
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "sequence"], name="events_sequence_per_customer"
            ),
            models.UniqueConstraint(fields=["public_id"], name="events_public_id_unique"),
        ]
        # Newest first (-id) reads the primary key backwards; a customer's last sequence reads
        # events_sequence_per_customer backwards: neither needs an index of its own.
        indexes = [
            models.Index(fields=["type", "-id"], name="events_type_id"),
            models.Index(fields=["created_at"], name="events_created_at"),
            models.Index(
                fields=["id"],
                name="events_undispatched",
                condition=Q(dispatched_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        # "invoice.paid · Ikram Khan #12 (evt_…)" (reads the customer: select_related it).
        return f"{self.type} · {self.customer.name} #{self.sequence} ({self.public_id})"
