import django_filters

from core.filters import NoEmptyFiltersForm

from .models import Subscription


class SubscriptionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Subscription.Status.choices)

    class Meta:
        model = Subscription
        form = NoEmptyFiltersForm
        fields = ["status"]
