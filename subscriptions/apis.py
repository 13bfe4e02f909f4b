"""Reading subscriptions. Changing them bills, so those endpoints live with the billing engine
(``invoices.apis``)."""

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView, RetrieveAPIView

from core.exceptions import NotFoundError
from core.filters import FilterBackend
from core.lists import RowListApi

from .filters import SubscriptionFilter
from .selectors import plan_change_list, subscription_list
from .serializers import PlanChangeSerializer, SubscriptionSerializer


@extend_schema(tags=["subscriptions"], summary="Your subscriptions, newest first")
class SubscriptionListApi(RowListApi):
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


@extend_schema(
    tags=["subscriptions"],
    summary="A subscription's changes of plan, newest first (scheduled, applied, withdrawn)",
)
class PlanChangeListApi(ListAPIView):
    serializer_class = PlanChangeSerializer

    def get_queryset(self):
        subscription_id = self.kwargs["subscription_id"]
        user_id = self.request.user.pk
        if not subscription_list(user_id=user_id).filter(pk=subscription_id).exists():
            raise NotFoundError(gettext("You have no subscription with this id."))
        return plan_change_list(user_id=user_id, subscription_id=subscription_id)
