from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import CreditTransaction
from plans.models import Plan
from subscriptions.models import PlanChange, Subscription


class Invoice(models.Model):
    """The bill for one period of one subscription: at most one per period, whatever runs twice."""

    class Status(models.TextChoices):
        PAID = "paid", "Paid"
        UNPAID = "unpaid", "Unpaid"
        VOID = "void", "Void"

    # No index of their own: invoices_one_per_period (subscription, period_index) and
    # invoices_by_user (user, -issued_at, -id) begin with them.
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="invoices", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invoices", db_index=False
    )
    period_index = models.PositiveIntegerField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="+", help_text="The plan billed."
    )
    plan_name = models.CharField(max_length=100)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    # The change of plan that started this period: its credit back is the invoice's proration line.
    plan_change = models.OneToOneField(
        PlanChange,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invoice",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.UNPAID)
    issued_at = models.DateTimeField(help_text="The period's start: when it was due.")
    # Taken from the year's InvoiceNumberSequence when the invoice is issued (invoices.numbering).
    # Unique by a constraint, not unique=True: that adds an index for LIKE 'prefix%' queries,
    # which nothing makes, to every insert.
    number = models.CharField(
        max_length=24,
        help_text=("INV-YYYY-000001…: gapless per year of issued_at (TIME_ZONE), in issue order."),
    )
    number_year = models.PositiveSmallIntegerField()
    number_seq = models.PositiveIntegerField()
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    payment = models.OneToOneField(
        CreditTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invoice",
        help_text="The ledger line that paid it.",
    )

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_index"], name="invoices_one_per_period"
            ),
            models.UniqueConstraint(
                fields=["number_year", "number_seq"], name="invoices_number_once_per_year"
            ),
            models.UniqueConstraint(fields=["number"], name="invoices_number_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoices_amount_positive"),
            models.CheckConstraint(
                condition=(
                    Q(status="paid", paid_at__isnull=False, payment__isnull=False)
                    | (~Q(status="paid") & Q(paid_at__isnull=True, payment__isnull=True))
                ),
                name="invoices_paid_has_payment",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-issued_at", "-id"], name="invoices_by_user"),
            models.Index(fields=["subscription", "status"], name="invoices_by_subscription"),
        ]

    def __str__(self) -> str:
        # "INV-2026-000001 · Ikram Khan · Globalnet Bronze" (reads the customer: select_related).
        return f"{self.number} · {self.user.name} · {self.plan_name}"


class InvoiceNumberSequence(models.Model):
    """
    The last invoice number taken in a calendar year (in TIME_ZONE). Only
    :mod:`invoices.numbering` changes it, inside the transaction that issues the invoices: the
    row stays locked to the commit, so numbers are gapless and in issue order.
    """

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(help_text="The last number taken; the next is one more.")

    def __str__(self) -> str:
        return f"Invoice numbers of {self.year}: {self.last} taken"


class BillingFailure(models.Model):
    """
    A customer whose billing raised (bad data, a bug, a constraint). The run rolled back their
    part, went on with the others and will retry them; this row tells operators, and goes away
    when the customer bills cleanly again. One per customer.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="billing_failures"
    )
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The subscription being billed when it failed, when known.",
    )
    error = models.TextField(help_text="The last error: its type and message.")
    attempts = models.PositiveIntegerField(default=1, help_text="Failed runs so far.")
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_failed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user"], name="invoices_one_failure_per_customer"),
        ]

    def __str__(self) -> str:
        # "Billing of Ikram Khan failing (3 runs)" (reads the customer: select_related it).
        runs = "1 run" if self.attempts == 1 else f"{self.attempts} runs"
        return f"Billing of {self.user.name} failing ({runs})"
