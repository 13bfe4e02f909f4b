from rest_framework import serializers

from .models import Plan


# The limits on amount, payment_cycle and total_valid_months come from the model's validators;
# the service's full_clean() checks the model's constraints (a plan's whole term) too.
class PlanSerializer(serializers.ModelSerializer):
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
