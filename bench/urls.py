from django.urls import path

from config.urls import urlpatterns as api_urlpatterns

from . import views

urlpatterns = [
    path("bench/constant/", views.constant),
    path("bench/plans/", views.plans),
    path("bench/invoices/", views.invoices),
    path("bench/subscriptions/", views.subscriptions),
    *api_urlpatterns,
]
