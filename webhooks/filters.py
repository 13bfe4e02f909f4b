import django_filters

from core.filters import IdFilter, NoEmptyFiltersForm
from events.models import Event, EventType


class EventFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(choices=EventType.choices)
    customer = IdFilter(field_name="customer_id", label="The customer's id.")

    class Meta:
        model = Event
        form = NoEmptyFiltersForm
        fields = ["type", "customer"]
