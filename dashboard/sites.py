"""
The admin site: Django's, branded from settings, with the operator's dashboard as its home page.
Only staff reach it (``AdminSite.admin_view``): anyone else is sent to the login page, and a
customer's login is refused there.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from . import charts
from .selectors import WINDOWS, Dashboard, dashboard_figures, window_days
from .templatetags.dashboard_format import admin_language

STATUS_NAMES = {
    "active": "Active",
    "past_due": "Past due",
    "paused": "Paused",
    "suspended": "Suspended",
}


def _change_url(model: str, object_id: Any) -> str | None:
    try:
        return reverse(f"admin:{model}_change", args=[object_id])
    except NoReverseMatch:
        return None


def dashboard_context(figures: Dashboard) -> dict[str, Any]:
    """What the template shows: the figures, their charts and links to the records."""
    language = admin_language()
    window = figures.window
    history = figures.subscriptions
    return {
        "figures": figures,
        "windows": WINDOWS,
        "language": language,
        "status_names": STATUS_NAMES,
        "status_now": {key: values[-1] for key, values in history.by_status.items()},
        "revenue_chart": charts.bar_chart(
            figures.revenue_by_day,
            label=f"Revenue collected per day, last {window.days} days",
            money=True,
            language=language,
            kind="revenue-daily",
            describe=lambda point: f"{point.count} invoices",
        ),
        "revenue_month_chart": charts.bar_chart(
            figures.revenue_by_month,
            label="Revenue collected per month",
            money=True,
            language=language,
            kind="revenue-monthly",
            monthly=True,
            describe=lambda point: f"{point.count} invoices",
        ),
        "top_ups_chart": charts.bar_chart(
            figures.top_ups_by_day,
            label=f"Top-ups per day, last {window.days} days",
            money=True,
            language=language,
            kind="top-ups",
            describe=lambda point: f"{point.count} top-ups",
        ),
        "status_chart": charts.line_chart(
            history.dates,
            history.by_status,
            names=STATUS_NAMES,
            label="Subscriptions by status at the end of each day",
            language=language,
            kind="statuses",
        ),
        "suspension_chart": charts.diverging_chart(
            history.suspensions,
            history.resumptions,
            label="Suspensions (above) and resumptions (below) per day",
            up_name="suspended",
            down_name="resumed",
            language=language,
            kind="suspensions",
        ),
        "suspensions_total": sum(point.value for point in history.suspensions),
        "resumptions_total": sum(point.value for point in history.resumptions),
        "plan_chart": charts.plan_chart(
            figures.plans,
            label="New subscriptions and churn per plan",
            language=language,
        ),
        "customer_urls": {
            row.user_id: _change_url("accounts_user", row.user_id)
            for row in [*figures.renewals_at_risk.customers, *figures.billing_failures.rows]
        },
        "endpoint_urls": {
            row.pk: _change_url("webhooks_webhookendpoint", row.pk)
            for row in figures.failing_endpoints.rows
        },
    }


class BillingAdminSite(admin.AdminSite):
    index_template = "dashboard/index.html"

    # Read when a page is drawn (never at import): tests and deployments may change them.
    @property
    def site_header(self) -> str:  # type: ignore[override]
        return settings.ADMIN_SITE_HEADER

    @property
    def site_title(self) -> str:  # type: ignore[override]
        return settings.ADMIN_SITE_TITLE

    @property
    def index_title(self) -> str:  # type: ignore[override]
        return settings.ADMIN_INDEX_TITLE

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        """The dashboard for the window asked for (``?days=`` 7, 30, 90 or 365; 30 otherwise),
        above the list of the admin's sections."""
        days = window_days(request.GET.get("days"))
        figures = dashboard_figures(now=timezone.now(), days=days)
        return super().index(request, {**dashboard_context(figures), **(extra_context or {})})
