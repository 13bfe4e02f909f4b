from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.urls import route
from core.views import api_not_found

from .views import HealthApi

api_v1 = [
    *route("health/", HealthApi.as_view(), name="health"),
    path("", include("accounts.urls")),
    path("", include("plans.urls")),
    path("", include("subscriptions.urls")),
    path("", include("invoices.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    *route("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    *route("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api(?:/.*)?$", api_not_found),
]


def server_error(request: HttpRequest) -> JsonResponse:
    """With DEBUG off, an unexpected error still answers in the contract's shape (never HTML)."""
    body = {
        "message": "Something went wrong on our side. Please try again.",
        "code": "server_error",
    }
    return JsonResponse(body, status=500)


handler500 = server_error
