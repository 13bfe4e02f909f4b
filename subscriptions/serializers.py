from datetime import timedelta, tzinfo
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from core.representation import json_day, json_moment, json_money

from .models import PlanChange, Subscription


class SubscriptionSerializer(serializers.Serializer):
    # A plain Serializer (like invoices.serializers.InvoiceSerializer): a ModelSerializer would
    # rebuild these fields from the model on every request. The schema is the same as the
    # ModelSerializer's was (the model's help texts copied).
    id = serializers.IntegerField(read_only=True)
    plan_id = serializers.IntegerField(read_only=True)
    plan_name = serializers.CharField(read_only=True)
    plan_amount = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    plan_payment_cycle = serializers.IntegerField(
        read_only=True, help_text="Days per billing cycle."
    )
    plan_months_validity = serializers.IntegerField(
        read_only=True, help_text="Number of billing cycles."
    )
    plan_cancellable = serializers.BooleanField(read_only=True)
    start_date = serializers.DateField(read_only=True)
    end_date = serializers.DateField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    status = serializers.ChoiceField(choices=Subscription.Status.choices, read_only=True)
    current_period_start = serializers.DateTimeField(read_only=True)
    current_period_end = serializers.DateTimeField(read_only=True)
    next_billing_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the next invoice will be issued; null while nothing will be billed "
        "(paused, suspended, ended, or in the last period).",
    )
    scheduled_plan_id = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="The plan a scheduled change moves it to at the next period start; null if none.",
    )
    scheduled_plan_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the scheduled change takes effect."
    )

    # The columns the output is made of: the list reads them with .values() (core.lists).
    COLUMNS = (
        "id", "plan_id", "plan_name", "plan_amount", "plan_payment_cycle",
        "plan_months_validity", "plan_cancellable", "start_at", "end_at", "status",
        "term_start_at", "term_first_index", "current_period_index", "period_seconds",
        "next_boundary_at", "scheduled_plan_id",
    )  # fmt: skip

    @staticmethod
    def row_representation(row: dict[str, Any], zone: tzinfo) -> dict[str, Any]:
        """The declared fields' output from the subscription's ``COLUMNS``, written out: DRF's
        loop over the fields and the model's properties cost most of the list's time. The
        derived fields follow ``Subscription``'s properties (``current_period_start``,
        ``is_active``, ``next_billing_at``, ``scheduled_plan_at``); ``subscriptions/tests/
        test_serializer.py`` checks the output equals DRF's loop over those properties."""
        length = timedelta(seconds=row["period_seconds"])
        index = row["current_period_index"]
        start = row["term_start_at"] + (index - row["term_first_index"]) * length
        serving = row["status"] in Subscription.SERVING_STATUSES
        scheduled = row["scheduled_plan_id"]
        boundary = row["next_boundary_at"]
        last = index + 1 >= row["term_first_index"] + row["plan_months_validity"]
        billing = boundary if serving and (scheduled is not None or not last) else None
        return {
            "id": row["id"],
            "plan_id": row["plan_id"],
            "plan_name": row["plan_name"],
            "plan_amount": json_money(row["plan_amount"]),
            "plan_payment_cycle": row["plan_payment_cycle"],
            "plan_months_validity": row["plan_months_validity"],
            "plan_cancellable": row["plan_cancellable"],
            "start_date": json_day(row["start_at"], zone),
            "end_date": json_day(row["end_at"], zone),
            "is_active": serving,
            "status": str(row["status"]),  # (a plain str, as ChoiceField gives, not the enum)
            "current_period_start": json_moment(start, zone),
            "current_period_end": json_moment(start + length, zone),
            "next_billing_at": json_moment(billing, zone),
            "scheduled_plan_id": scheduled,
            "scheduled_plan_at": json_moment(boundary if scheduled is not None else None, zone),
        }

    def to_representation(self, instance: Subscription) -> dict[str, Any]:
        row = {name: getattr(instance, name) for name in self.COLUMNS}
        return self.row_representation(row, timezone.get_current_timezone())


class PlanChangeSerializer(serializers.Serializer):
    """One change of a subscription's plan: its history, and what a scheduled one will do."""

    id = serializers.IntegerField(read_only=True)
    subscription_id = serializers.IntegerField(read_only=True)
    at = serializers.ChoiceField(source="timing", choices=PlanChange.Timing.choices, read_only=True)
    status = serializers.ChoiceField(choices=PlanChange.Status.choices, read_only=True)
    from_plan_id = serializers.IntegerField(read_only=True)
    from_plan_name = serializers.CharField(read_only=True)
    from_plan_amount = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    plan_id = serializers.IntegerField(read_only=True)
    plan_name = serializers.CharField(read_only=True)
    plan_amount = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    plan_payment_cycle = serializers.IntegerField(read_only=True)
    plan_months_validity = serializers.IntegerField(read_only=True)
    credit_back = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        read_only=True,
        help_text="Credited back for the unused part of the paid period (changes made now).",
    )
    requested_at = serializers.DateTimeField(read_only=True)
    effective_at = serializers.DateTimeField(
        read_only=True, help_text="When the new plan starts (or started)."
    )
    withdrawn_at = serializers.DateTimeField(read_only=True, allow_null=True)
