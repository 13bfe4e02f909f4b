from typing import Any

from rest_framework import serializers

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

    def to_representation(self, instance: Subscription) -> dict[str, Any]:
        """The declared fields' output, written out: DRF's loop over the fields (attribute
        lookup, None check, one call each) was most of the list's serializing time.
        ``subscriptions/tests/test_serializer.py`` checks it equals the loop's output."""
        fields = self.fields
        moment = fields["current_period_start"].to_representation
        day = fields["start_date"].to_representation
        return {
            "id": instance.id,
            "plan_id": instance.plan_id,
            "plan_name": instance.plan_name,
            "plan_amount": fields["plan_amount"].to_representation(instance.plan_amount),
            "plan_payment_cycle": instance.plan_payment_cycle,
            "plan_months_validity": instance.plan_months_validity,
            "plan_cancellable": instance.plan_cancellable,
            "start_date": day(instance.start_date),
            "end_date": day(instance.end_date),
            "is_active": instance.is_active,
            "status": fields["status"].to_representation(instance.status),
            "current_period_start": moment(instance.current_period_start),
            "current_period_end": moment(instance.current_period_end),
            "next_billing_at": moment(instance.next_billing_at),
            "scheduled_plan_id": instance.scheduled_plan_id,
            "scheduled_plan_at": moment(instance.scheduled_plan_at),
        }


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
