"""Reading subscriptions. Changing them bills, so those endpoints live with the billing engine
(``invoices.apis``)."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView, RetrieveAPIView

from core.filters import FilterBackend

from .filters import SubscriptionFilter
from .selectors import subscription_list
from .serializers import SubscriptionSerializer


@extend_schema(tags=["subscriptions"], summary="Your subscriptions, newest first")
class SubscriptionListApi(ListAPIView):
    serializer_class = SubscriptionSerializer
    filter_backends = [FilterBackend]
    filterset_class = SubscriptionFilter

    def get_queryset(self):
        return subscription_list(user_id=self.request.user.pk)


@extend_schema(tags=["subscriptions"], summary="One of your subscriptions")
class SubscriptionDetailApi(RetrieveAPIView):
    serializer_class = SubscriptionSerializer
    lookup_url_kwarg = "subscription_id"

    def get_queryset(self):
        return subscription_list(user_id=self.request.user.pk)
