import django_filters

from core.filters import IdFilter, NoEmptyFiltersForm, UtcDateTimeFilter

from .models import Invoice


class InvoiceFilter(django_filters.FilterSet):
    subscription = IdFilter(field_name="subscription_id")
    status = django_filters.ChoiceFilter(choices=Invoice.Status.choices)
    issued_after = UtcDateTimeFilter(
        field_name="issued_at",
        lookup_expr="gte",
        label="Issued at or after (date or ISO datetime; a date means its midnight).",
    )
    issued_before = UtcDateTimeFilter(
        field_name="issued_at",
        lookup_expr="lt",
        label="Issued before (date or ISO datetime; a date means its midnight).",
    )

    class Meta:
        model = Invoice
        form = NoEmptyFiltersForm
        fields = ["subscription", "status", "issued_after", "issued_before"]
