from decimal import Decimal

from rest_framework import serializers

from .models import Plan

MAX_AMOUNT = Decimal("9999999999.99")
# A subscription lasts payment_cycle * total_valid_months days: keep that within reason.
MAX_CYCLE_DAYS = 3660
MAX_CYCLES = 1200


class PlanSerializer(serializers.ModelSerializer):
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), max_value=MAX_AMOUNT
    )
    payment_cycle = serializers.IntegerField(
        min_value=1, max_value=MAX_CYCLE_DAYS, required=False, help_text="Days per billing cycle."
    )
    total_valid_months = serializers.IntegerField(
        min_value=1, max_value=MAX_CYCLES, required=False, help_text="Number of billing cycles."
    )
    is_cancellable = serializers.BooleanField(required=False)
    is_archived = serializers.BooleanField(
        required=False, help_text="Superusers: PATCH false to restore an archived plan."
    )

    class Meta:
        model = Plan
        fields = [
            "id",
            "name",
            "amount",
            "payment_cycle",
            "total_valid_months",
            "is_cancellable",
            "is_archived",
        ]
