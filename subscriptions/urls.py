from core.urls import route

from . import apis

app_name = "subscriptions"

urlpatterns = [
    *route("subscriptions/", apis.SubscriptionListApi.as_view(), name="list"),
    *route(
        "subscriptions/<id:subscription_id>/", apis.SubscriptionDetailApi.as_view(), name="detail"
    ),
    *route(
        "subscriptions/<id:subscription_id>/plan-changes/",
        apis.PlanChangeListApi.as_view(),
        name="plan-changes",
    ),
]
