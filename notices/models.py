"""
SMS notices to customers: made from committed events (and, for reminders, from the clock),
recorded here, then sent by the notice relay in the scheduler's leader.

A notice exists at most once per subscription, period and kind (and reminder step), and a
receipt at most once per event: the database's unique constraints hold it, so the relay can
read an event twice, or two relays the same event, and still make one notice.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Notice(models.Model):
    class Kind(models.TextChoices):
        REMINDER = "reminder", "Renewal reminder"
        SUSPENDED = "suspended", "Suspension"
        RESUMED = "resumed", "Resumption"
        LAST_PERIOD = "last_period", "Last period started"
        CANCELLED = "cancelled", "Cancellation"
        RECEIPT = "receipt", "Top-up receipt"
        PAST_DUE = "past_due", "Past due"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices"
    )
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notices",
    )
    period_index = models.PositiveIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # A reminder's step: how many billing days before the period start (0 for other kinds).
    days_before = models.PositiveSmallIntegerField(default=0)
    # The event it was made from (none for reminders, which come from the clock).
    event = models.ForeignKey(
        "events.Event", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    phone = models.CharField(max_length=32, help_text="E.164, when the notice was made.")
    language = models.CharField(max_length=8)
    text = models.TextField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_index", "kind", "days_before"],
                condition=Q(subscription__isnull=False),
                name="notices_once_per_subscription_period_kind",
            ),
            models.UniqueConstraint(
                fields=["event", "kind"],
                condition=Q(event__isnull=False),
                name="notices_once_per_event_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at", "-id"], name="notices_by_customer"),
            models.Index(
                fields=["next_attempt_at"],
                name="notices_due",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        # "Renewal reminder · Ikram Khan · +8801712345678" (reads the customer: select_related).
        return f"{self.get_kind_display()} · {self.customer.name} · {self.phone}"


class NoticeEventSeen(models.Model):
    """An event the notice relay has read (its own marker: ``Event.dispatched_at`` is the
    webhook relay's). Written with the event's notices, in one transaction."""

    event = models.OneToOneField(
        "events.Event", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"event {self.event_id} seen at {self.seen_at}"
