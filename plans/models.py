from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PlanQuerySet(models.QuerySet["Plan"]):
    def purchasable(self) -> "PlanQuerySet":
        return self.filter(archived_at__isnull=True)


class Plan(models.Model):
    """A catalogue entry. Subscriptions copy its terms, so edits affect later purchases only."""

    name = models.CharField(max_length=100)
    amount = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[
            MinValueValidator(Decimal("0.01")),
            MaxValueValidator(Decimal("9999999999.99")),
        ],
    )
    payment_cycle = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="Length of one billing cycle, in days.",
    )
    total_valid_months = models.PositiveIntegerField(
        default=12, validators=[MinValueValidator(1)], help_text="Number of billing cycles."
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
                condition=Q(payment_cycle__gte=1), name="plans_plan_cycle_positive"
            ),
            models.CheckConstraint(
                condition=Q(total_valid_months__gte=1), name="plans_plan_cycles_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.amount})"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None
