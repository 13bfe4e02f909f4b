from core.urls import route

from . import apis

app_name = "invoices"

urlpatterns = [
    *route("purchase-plan/", apis.PurchasePlanApi.as_view(), name="purchase-plan"),
    *route("cancel-plan/<id:subscription_id>/", apis.CancelPlanApi.as_view(), name="cancel-plan"),
    *route(
        "subscriptions/<id:subscription_id>/activation/",
        apis.SubscriptionActivationApi.as_view(),
        name="activation",
    ),
    *route(
        "subscriptions/<id:subscription_id>/change-plan/",
        apis.PlanChangeApi.as_view(),
        name="change-plan",
    ),
    *route(
        "subscriptions/<id:subscription_id>/change-plan/preview/",
        apis.PlanChangePreviewApi.as_view(),
        name="change-plan-preview",
    ),
    *route("credit/forecast/", apis.CreditForecastApi.as_view(), name="credit-forecast"),
    *route("invoices/", apis.InvoiceListApi.as_view(), name="list"),
    *route("invoices/statistics/", apis.InvoiceStatisticsApi.as_view(), name="statistics"),
    *route("invoices/<id:invoice_id>/", apis.InvoiceDetailApi.as_view(), name="detail"),
    *route("invoices/<id:invoice_id>/pdf/", apis.InvoicePdfApi.as_view(), name="pdf"),
]
