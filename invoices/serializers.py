from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

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

    def to_representation(self, instance: Invoice) -> dict[str, Any]:
        """The declared fields' output, written out as the subscription's is (DRF's loop over
        the fields was most of the list's serializing time); ``invoices/tests/
        test_invoice_serializer.py`` checks it equals the loop's output."""
        fields = self.fields
        moment = fields["issued_at"].to_representation
        money = fields["amount"].to_representation
        change = instance.plan_change if instance.plan_change_id is not None else None
        return {
            "id": instance.id,
            "number": instance.number,
            "subscription_id": instance.subscription_id,
            "plan_id": instance.plan_id,
            "plan_name": instance.plan_name,
            "amount": money(instance.amount),
            "proration_credit": None if change is None else money(change.credit_back),
            "period_start": moment(instance.period_start),
            "period_end": moment(instance.period_end),
            "status": fields["status"].to_representation(instance.status),
            "issued_at": moment(instance.issued_at),
            "paid_at": moment(instance.paid_at),
        }


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
