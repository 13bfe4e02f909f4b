from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"


class BillingAdminConfig(admin_apps.AdminConfig):
    """
    Django's admin (it keeps the label ``admin`` and discovers every app's ``admin.py``) whose
    site is :class:`dashboard.sites.BillingAdminSite`: the business's figures on the home page
    and its branding from settings. INSTALLED_APPS lists it in place of ``django.contrib.admin``.
    """

    default = False  # "dashboard" alone means DashboardConfig
    default_site = "dashboard.sites.BillingAdminSite"
