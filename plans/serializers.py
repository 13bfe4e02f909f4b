from datetime import tzinfo
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from core.representation import json_money

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

    # The columns the output is made of: the list reads them with .values() (core.lists).
    COLUMNS = (
        "id", "name", "amount", "payment_cycle", "total_valid_months", "is_cancellable",
        "archived_at",
    )  # fmt: skip

    @staticmethod
    def row_representation(row: dict[str, Any], zone: tzinfo) -> dict[str, Any]:
        """The fields' output from the plan's ``COLUMNS``, written out (a ModelSerializer builds
        its fields on every use); ``plans/tests/test_plan_serializer.py`` checks it equals
        DRF's loop over the fields."""
        return {
            "id": row["id"],
            "name": row["name"],
            "amount": json_money(row["amount"]),
            "payment_cycle": row["payment_cycle"],
            "total_valid_months": row["total_valid_months"],
            "is_cancellable": row["is_cancellable"],
            "is_archived": row["archived_at"] is not None,
        }

    def to_representation(self, instance: Plan) -> dict[str, Any]:
        row = {name: getattr(instance, name) for name in self.COLUMNS}
        return self.row_representation(row, timezone.get_current_timezone())

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = {name: getattr(self.instance, name) for name in TERMS if self.instance}
        plan = Plan(**{**current, **{name: attrs[name] for name in TERMS if name in attrs}})
        try:
            plan.validate_constraints()
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        return attrs
