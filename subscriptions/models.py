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
    of the plan change nothing here.

    A change of plan (:class:`PlanChange`) starts a new *term*: the new plan's terms replace the
    old ones, and its periods count on from the old ones (invoices stay one per period index).
    Period k of the current term is
    ``[term_start_at + (k - term_first_index) * period_length, ... + period_length)``.
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

    # No index of its own: subscriptions_by_user starts with it (one index less to write).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="subscriptions",
        db_index=False,
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
    start_at = models.DateTimeField(help_text="When it was bought.")
    end_at = models.DateTimeField(help_text="The current term's end.")
    # The current plan's term: when it began and the index of its first period.
    term_start_at = models.DateTimeField()
    term_first_index = models.PositiveIntegerField(default=0)
    current_period_index = models.PositiveIntegerField(default=0)
    # A change of plan waiting for the next period start (its PlanChange row holds the terms).
    scheduled_plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
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
                condition=Q(
                    current_period_index__gte=models.F("term_first_index"),
                    current_period_index__lt=models.F("term_first_index")
                    + models.F("plan_months_validity"),
                ),
                name="subscriptions_period_in_term",
            ),
        ]
        indexes = [
            models.Index(fields=["next_boundary_at"], name="subscriptions_due"),
            models.Index(fields=["user", "-created_at", "-id"], name="subscriptions_by_user"),
        ]

    def __str__(self) -> str:
        # "Globalnet Bronze · Ikram Khan (#5)" (reads the customer: select_related it).
        return f"{self.plan_name} · {self.user.name} (#{self.pk})"

    @property
    def is_active(self) -> bool:
        return self.status in self.SERVING_STATUSES

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def term_end_index(self) -> int:
        """The index of the first period after the current term."""
        return self.term_first_index + self.plan_months_validity

    @property
    def in_last_period(self) -> bool:
        return self.current_period_index + 1 >= self.term_end_index

    @property
    def next_billing_at(self) -> datetime | None:
        """When the next invoice will be issued: None while nothing will be billed (paused,
        suspended, ended, or in the last period with no change of plan scheduled). Past due,
        the next period's start: billed then if the grace period ends paid."""
        if not self.is_active or (self.in_last_period and self.scheduled_plan_id is None):
            return None
        return self.next_boundary_at

    @property
    def scheduled_plan_at(self) -> datetime | None:
        """When the scheduled change of plan starts the new plan: the next period start."""
        return self.next_boundary_at if self.scheduled_plan_id is not None else None

    @property
    def period_length(self) -> timedelta:
        return timedelta(seconds=self.period_seconds)

    def period_start(self, index: int) -> datetime:
        """The start of period ``index`` of the current term."""
        return self.term_start_at + (index - self.term_first_index) * self.period_length

    def period_index_at(self, period_start: datetime) -> int:
        """The index of the current term's period that starts at ``period_start``."""
        return self.term_first_index + round(
            (period_start - self.term_start_at) / self.period_length
        )

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


class PlanChange(models.Model):
    """
    A customer's move of a subscription to another plan: at once (``now``: the unused part of the
    paid period is credited back and the new plan's first period is paid) or at the next period
    start (``period_end``: scheduled, applied by billing, withdrawable until then). The new plan's
    terms are copied when it is asked for, so the customer gets what the preview showed. The rows
    of a subscription are its history of plans.
    """

    class Timing(models.TextChoices):
        NOW = "now", "Now"
        PERIOD_END = "period_end", "At the period's end"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        APPLIED = "applied", "Applied"
        WITHDRAWN = "withdrawn", "Withdrawn"

    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="plan_changes"
    )
    timing = models.CharField(max_length=16, choices=Timing.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    from_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    from_plan_name = models.CharField(max_length=100)
    from_plan_amount = models.DecimalField(max_digits=12, decimal_places=2)
    # The new plan's terms as asked for.
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    plan_name = models.CharField(max_length=100)
    plan_amount = models.DecimalField(max_digits=12, decimal_places=2)
    plan_payment_cycle = models.PositiveIntegerField()
    plan_months_validity = models.PositiveIntegerField()
    plan_cancellable = models.BooleanField()
    period_seconds = models.BigIntegerField()
    credit_back = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=0,
        help_text="Credited back for the unused part of the paid period (changes made now).",
    )
    first_period_index = models.PositiveIntegerField(
        null=True, blank=True, help_text="The new term's first period, once applied."
    )
    requested_at = models.DateTimeField()
    effective_at = models.DateTimeField(
        help_text="When the new plan starts (scheduled: the next period start as asked)."
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription"],
                condition=Q(status="scheduled"),
                name="subscriptions_one_scheduled_change",
            ),
            models.CheckConstraint(
                condition=Q(credit_back__gte=0), name="subscriptions_credit_back_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(plan_amount__gt=0), name="subscriptions_change_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        # "Globalnet Bronze → Globalnet Gold · Ikram Khan" (reads subscription__user).
        return f"{self.from_plan_name} → {self.plan_name} · {self.subscription.user.name}"
