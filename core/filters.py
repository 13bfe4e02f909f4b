from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.rest_framework import DjangoFilterBackend


class NoEmptyFiltersForm(forms.Form):
    """For a FilterSet's ``Meta.form``: a filter sent empty (``?status=``) is a mistake, not
    "no filter", so it gets a 400 like any other bad value."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in self.fields:
            if name in self.data and not str(self.data.get(name, "")).strip():
                self.add_error(name, "Give a value, or leave this filter out.")
        return cleaned


class IdFilter(django_filters.NumberFilter):
    """A database id: a whole number that fits the column (a huge one is a 400, not a 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 10**18)
        super().__init__(*args, **kwargs)


class UtcDateTimeField(forms.DateTimeField):
    """A date or datetime in any offset Python accepts, turned into UTC here: PostgreSQL
    refuses offsets beyond ±15:59, and a moment next to year 1 or 9999 may not convert."""

    def clean(self, value: Any) -> datetime | None:
        moment = super().clean(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError("Enter a date between the years 1 and 9999.") from None


class UtcDateTimeFilter(django_filters.DateTimeFilter):
    field_class = UtcDateTimeField


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, minus the cost of building and validating a form on every list
    request that sends none of its filters (most of them): that cost was the largest avoidable
    one the benchmarks measured on ``GET invoices/``."""

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or not any(
            name in request.query_params for name in filterset_class.base_filters
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)
