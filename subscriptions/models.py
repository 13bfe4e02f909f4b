from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from plans.models import Plan


class Subscription(models.Model):
    """
    A customer's purchase of a plan. The plan's terms are copied at purchase, so later edits
    of the plan change nothing here. Period k is
    ``[start_at + k * period_length, start_at + (k + 1) * period_length)``.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        # BILLING_GRACE_DAYS: the period's invoice waits for credit, the service goes on.
        PAST_DUE = "past_due", "Past due: unpaid, within the grace period"
        PAUSED = "paused", "Paused by the customer"
        SUSPENDED = "suspended", "Suspended for lack of credit"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    LIVE_STATUSES = (Status.ACTIVE, Status.PAST_DUE, Status.PAUSED, Status.SUSPENDED)
    # The service goes on: billed at each period start, its job scheduled.
    SERVING_STATUSES = (Status.ACTIVE, Status.PAST_DUE)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    # The terms as bought.
    plan_name = models.CharField(max_length=100)
    plan_amount = models.DecimalField(max_digits=12, decimal_places=2)
    plan_payment_cycle = models.PositiveIntegerField(help_text="Days per billing cycle.")
    plan_months_validity = models.PositiveIntegerField(help_text="Number of billing cycles.")
    plan_cancellable = models.BooleanField()
    # A billing day lasts BILLING_DAY_SECONDS when bought: cycle * that, in seconds.
    period_seconds = models.BigIntegerField()

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    current_period_index = models.PositiveIntegerField(default=0)
    # The engine's clock: the next boundary it processes. It is set while paused or suspended
    # too (those periods are skipped, and the subscription still expires at its end); what the
    # customer sees is ``next_billing_at``.
    next_boundary_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The next boundary billing processes: the next period's start, or the end; "
        "empty once over.",
    )
    # While past_due: when it is suspended unless the invoice is paid (never after the period).
    grace_ends_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "plan"],
                condition=Q(status__in=["active", "past_due", "paused", "suspended"]),
                name="subscriptions_one_live_per_plan",
            ),
            models.CheckConstraint(
                condition=Q(plan_amount__gt=0), name="subscriptions_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(period_seconds__gt=0), name="subscriptions_period_positive"
            ),
            models.CheckConstraint(
                condition=Q(current_period_index__lt=models.F("plan_months_validity")),
                name="subscriptions_period_in_range",
            ),
        ]
        indexes = [
            models.Index(fields=["next_boundary_at"], name="subscriptions_due"),
            models.Index(fields=["user", "-created_at", "-id"], name="subscriptions_by_user"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_name} for {self.user_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.SERVING_STATUSES

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def next_billing_at(self) -> datetime | None:
        """When the next invoice will be issued: None while nothing will be billed (paused,
        suspended, ended, or in the last period). Past due, the next period's start: billed then
        if the grace period ends paid."""
        if not self.is_active or self.current_period_index + 1 >= self.plan_months_validity:
            return None
        return self.next_boundary_at

    @property
    def period_length(self) -> timedelta:
        return timedelta(seconds=self.period_seconds)

    def period_start(self, index: int) -> datetime:
        return self.start_at + index * self.period_length

    def period_end(self, index: int) -> datetime:
        return self.period_start(index + 1)

    @property
    def start_date(self) -> date:
        return timezone.localdate(self.start_at)

    @property
    def end_date(self) -> date:
        return timezone.localdate(self.end_at)

    @property
    def current_period_start(self) -> datetime:
        return self.period_start(self.current_period_index)

    @property
    def current_period_end(self) -> datetime:
        return self.period_end(self.current_period_index)
