from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.urls import route
from core.views import api_not_found, index

from .views import HealthApi

api_v1 = [
    *route("health/", HealthApi.as_view(), name="health"),
    path("", include("accounts.urls")),
    path("", include("plans.urls")),
    path("", include("subscriptions.urls")),
    path("", include("invoices.urls")),
    path("", include("webhooks.urls")),
    path("", include("notices.urls")),
]

urlpatterns = [
    path("", index, name="index"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    *route("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    *route("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api(?:/.*)?$", api_not_found),
]

# Django's error pages answer in the error shape outside the admin (see core.views).
handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
