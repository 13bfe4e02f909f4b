from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from .models import Plan

TERMS = ("amount", "payment_cycle", "total_valid_months")


# Each field's limits come from the model's validators; validate() checks the model's
# constraints on the plan as it would be saved (a plan's whole term).
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

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = {name: getattr(self.instance, name) for name in TERMS if self.instance}
        plan = Plan(**{**current, **{name: attrs[name] for name in TERMS if name in attrs}})
        try:
            plan.validate_constraints()
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        return attrs
