from datetime import tzinfo
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import serializers

from core.representation import json_moment, json_money

from .models import Invoice


class InvoiceSerializer(serializers.Serializer):
    # A plain Serializer: a ModelSerializer would rebuild these fields from the model on every
    # request, which the benchmarks showed on the invoice list.
    id = serializers.IntegerField(read_only=True)
    number = serializers.CharField(read_only=True)
    subscription_id = serializers.IntegerField(read_only=True)
    plan_id = serializers.IntegerField(read_only=True)
    plan_name = serializers.CharField(read_only=True)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    proration_credit = serializers.DecimalField(
        source="plan_change.credit_back",
        max_digits=12,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text="Credited back, just before this invoice was paid, for the unused part of the "
        "previous plan's period (the change of plan that started this period); null if none.",
    )
    period_start = serializers.DateTimeField(read_only=True)
    period_end = serializers.DateTimeField(read_only=True)
    status = serializers.ChoiceField(choices=Invoice.Status.choices, read_only=True)
    issued_at = serializers.DateTimeField(read_only=True)
    paid_at = serializers.DateTimeField(read_only=True, allow_null=True)

    # The columns the output is made of: the list reads them with .values() (core.lists), the
    # proration credit through the invoice's change of plan.
    COLUMNS = (
        "id", "number", "subscription_id", "plan_id", "plan_name", "amount",
        "plan_change__credit_back", "period_start", "period_end", "status", "issued_at",
        "paid_at",
    )  # fmt: skip

    @staticmethod
    def row_representation(row: dict[str, Any], zone: tzinfo) -> dict[str, Any]:
        """The declared fields' output from the invoice's ``COLUMNS``, written out (DRF's loop
        over the fields was most of the list's serializing time); ``invoices/tests/
        test_invoice_serializer.py`` checks it equals the loop's output."""
        return {
            "id": row["id"],
            "number": row["number"],
            "subscription_id": row["subscription_id"],
            "plan_id": row["plan_id"],
            "plan_name": row["plan_name"],
            "amount": json_money(row["amount"]),
            "proration_credit": json_money(row["plan_change__credit_back"]),
            "period_start": json_moment(row["period_start"], zone),
            "period_end": json_moment(row["period_end"], zone),
            "status": str(row["status"]),  # (a plain str, as ChoiceField gives, not the enum)
            "issued_at": json_moment(row["issued_at"], zone),
            "paid_at": json_moment(row["paid_at"], zone),
        }

    def to_representation(self, instance: Invoice) -> dict[str, Any]:
        row = {name: getattr(instance, name) for name in self.COLUMNS if "__" not in name}
        change = instance.plan_change if instance.plan_change_id is not None else None
        row["plan_change__credit_back"] = None if change is None else change.credit_back
        return self.row_representation(row, timezone.get_current_timezone())


class _CountAmount(serializers.Serializer):
    count = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class _Month(_CountAmount):
    month = serializers.CharField(help_text="YYYY-MM in TIME_ZONE.")


class InvoiceStatisticsSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Invoices that are not void.")
    total_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    paid = _CountAmount()
    unpaid = _CountAmount()
    void = _CountAmount()
    by_month = _Month(many=True)


class PurchaseInputSerializer(serializers.Serializer):
    plan = serializers.IntegerField(min_value=1, max_value=10**18, help_text="The plan's id.")


class ActivationInputSerializer(serializers.Serializer):
    is_active = serializers.BooleanField(required=False)
    isactive = serializers.BooleanField(required=False, help_text="Alias (seed 003): 0 or 1.")

    def validate(self, attrs):
        values = {attrs[name] for name in ("is_active", "isactive") if name in attrs}
        if not values:
            raise serializers.ValidationError({"is_active": [_("This field is required.")]})
        if len(values) > 1:
            raise serializers.ValidationError(
                {"is_active": [_("Send is_active or isactive (its alias), not both, differing.")]}
            )
        return {"is_active": values.pop()}


class ForecastInputSerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1, max_value=366, default=90, help_text="Billing days ahead (1 to 366)."
    )


class ForecastChargeSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="The period start it is charged at.")
    subscription_id = serializers.IntegerField()
    plan_name = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    balance_after = serializers.DecimalField(max_digits=12, decimal_places=2)
    covered = serializers.BooleanField(help_text="Whether the credit will pay it.")


class ForecastSerializer(serializers.Serializer):
    balance = serializers.DecimalField(max_digits=12, decimal_places=2)
    covered_until = serializers.DateTimeField(
        allow_null=True, help_text="The first charge the credit will not cover; null if none."
    )
    charges = ForecastChargeSerializer(many=True)


class PlanChangeInputSerializer(serializers.Serializer):
    plan = serializers.IntegerField(min_value=1, max_value=10**18, help_text="The new plan's id.")
    at = serializers.ChoiceField(
        choices=["now", "period_end"],
        default="now",
        help_text="now: prorate and start the new plan at once; period_end: at the next period "
        "start.",
    )


class PlanChangeQuoteSerializer(serializers.Serializer):
    subscription_id = serializers.IntegerField()
    plan = serializers.IntegerField(source="plan_id", help_text="The new plan's id.")
    at = serializers.CharField()
    effective_at = serializers.DateTimeField(help_text="When the new plan starts.")
    credit_back = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="Credited back for the unused part of the paid period (0 at period_end).",
    )
    charge = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="The new plan's first period, paid now (0 at period_end: billed then).",
    )
    balance = serializers.DecimalField(max_digits=12, decimal_places=2)
    balance_after = serializers.DecimalField(max_digits=12, decimal_places=2)
    payable = serializers.BooleanField(
        help_text="Whether the credit covers it; if not, the change would answer 402."
    )
    next_billing_at = serializers.DateTimeField(allow_null=True)
    next_billing_amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
