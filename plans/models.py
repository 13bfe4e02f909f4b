from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Cast
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from core.money import MAX_MONEY

MIN_AMOUNT = Decimal("0.01")
MAX_CYCLE_DAYS = 3660  # ten years
MAX_CYCLES = 1200  # a hundred years of monthly cycles
# A subscription lasts payment_cycle * total_valid_months days from its purchase. About a
# thousand years keeps its end, and every period boundary, inside what a datetime holds
# (year 9999) for any purchase before the year 8900.
MAX_TERM_DAYS = 366_000


class PlanQuerySet(models.QuerySet["Plan"]):
    def purchasable(self) -> "PlanQuerySet":
        return self.filter(archived_at__isnull=True)


class Plan(models.Model):
    """A catalogue entry. Subscriptions copy its terms, so edits affect later purchases only."""

    name = models.CharField(max_length=100)
    amount = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(MIN_AMOUNT), MaxValueValidator(MAX_MONEY)],
    )
    payment_cycle = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CYCLE_DAYS)],
        help_text="Days per billing cycle.",
    )
    total_valid_months = models.PositiveIntegerField(
        default=12,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CYCLES)],
        help_text="Number of billing cycles.",
    )
    is_cancellable = models.BooleanField(default=False)
    archived_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when deleted: no longer listed or purchasable."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="plans_plan_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount__lte=MAX_MONEY), name="plans_plan_amount_within_limit"
            ),
            models.CheckConstraint(
                condition=Q(payment_cycle__gte=1), name="plans_plan_cycle_positive"
            ),
            models.CheckConstraint(
                condition=Q(payment_cycle__lte=MAX_CYCLE_DAYS),
                name="plans_plan_cycle_within_limit",
            ),
            models.CheckConstraint(
                condition=Q(total_valid_months__gte=1), name="plans_plan_cycles_positive"
            ),
            models.CheckConstraint(
                condition=Q(total_valid_months__lte=MAX_CYCLES),
                name="plans_plan_cycles_within_limit",
            ),
            # In 64 bits: PostgreSQL's 32-bit product of two out-of-range values would fail
            # with "integer out of range" instead of breaking this constraint.
            models.CheckConstraint(
                condition=LessThanOrEqual(
                    Cast("payment_cycle", models.BigIntegerField()) * F("total_valid_months"),
                    MAX_TERM_DAYS,
                ),
                name="plans_plan_term_within_limit",
                violation_error_message=(
                    f"A plan lasts at most {MAX_TERM_DAYS} days: payment_cycle times"
                    " total_valid_months is too large."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.amount})"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None
