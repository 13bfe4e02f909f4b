from rest_framework import serializers

from .models import Invoice


class InvoiceSerializer(serializers.ModelSerializer):
    subscription_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "subscription_id",
            "plan_name",
            "amount",
            "period_start",
            "period_end",
            "status",
            "issued_at",
            "paid_at",
        ]
        read_only_fields = fields


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
            raise serializers.ValidationError({"is_active": ["This field is required."]})
        if len(values) > 1:
            raise serializers.ValidationError(
                {"is_active": ["Send is_active or isactive (its alias), not both, differing."]}
            )
        return {"is_active": values.pop()}
