import django_filters

from .models import Invoice


class InvoiceFilter(django_filters.FilterSet):
    subscription = django_filters.NumberFilter(field_name="subscription_id")
    status = django_filters.ChoiceFilter(choices=Invoice.Status.choices)
    issued_after = django_filters.DateTimeFilter(
        field_name="issued_at",
        lookup_expr="gte",
        label="Issued at or after (date or ISO datetime; a date means its midnight).",
    )
    issued_before = django_filters.DateTimeFilter(
        field_name="issued_at",
        lookup_expr="lt",
        label="Issued before (date or ISO datetime; a date means its midnight).",
    )

    class Meta:
        model = Invoice
        fields = ["subscription", "status", "issued_after", "issued_before"]
