import django_filters

from .models import Subscription


class SubscriptionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Subscription.Status.choices)

    class Meta:
        model = Subscription
        fields = ["status"]
