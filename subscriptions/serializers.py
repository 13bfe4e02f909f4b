from rest_framework import serializers

from .models import Subscription


class SubscriptionSerializer(serializers.ModelSerializer):
    plan_id = serializers.IntegerField(read_only=True)
    start_date = serializers.DateField(read_only=True)
    end_date = serializers.DateField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    current_period_start = serializers.DateTimeField(read_only=True)
    current_period_end = serializers.DateTimeField(read_only=True)
    next_billing_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the next invoice will be issued; null while nothing will be billed "
        "(paused, suspended, ended, or in the last period).",
    )

    class Meta:
        model = Subscription
        fields = [
            "id",
            "plan_id",
            "plan_name",
            "plan_amount",
            "plan_payment_cycle",
            "plan_months_validity",
            "plan_cancellable",
            "start_date",
            "end_date",
            "is_active",
            "status",
            "current_period_start",
            "current_period_end",
            "next_billing_at",
        ]
        read_only_fields = fields
