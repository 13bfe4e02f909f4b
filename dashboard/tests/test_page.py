# ruff: noqa: RUF001  (Bengali digit zero, U+09E6, is meant: not the Latin letter O)
"""The dashboard page as an operator reads it: figures formatted, charts with the database's
numbers, lists linking to the records, nothing loaded from elsewhere."""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal

import pytest

from dashboard import charts
from dashboard.selectors import PlanMovement, Point
from invoices.models import Invoice
from subscriptions.models import Subscription
from webhooks.models import WebhookEndpoint

from .conftest import NOW, ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(business, staff, client, time_machine):
    time_machine.move_to(NOW, tick=False)
    client.force_login(staff)

    def get(query: str = "", **headers: str) -> str:
        response = client.get(f"/admin/{query}", headers=headers)
        assert response.status_code == 200
        return response.content.decode()

    return get


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start : html.index("</figure>", start) if "chart-" in element_id else None]


def bars(html: str, element_id: str) -> dict[str, str]:
    svg = section(html, element_id)
    svg = svg[: svg.index("</svg>")]
    return dict(re.findall(r'data-day="([\d-]+)" data-value="([\d.]+)"', svg))


def test_the_window_links_choose_the_days(page):
    html = page()

    links = re.findall(r'<a href="\?days=(\d+)"( class="selected")?', html)
    assert links == [("7", ""), ("30", ' class="selected"'), ("90", ""), ("365", "")]
    assert len(bars(page("?days=7"), "chart-revenue-daily")) == 7
    assert len(bars(page("?days=365"), "chart-revenue-daily")) == 365
    assert len(bars(page("?days=12"), "chart-revenue-daily")) == 30


def test_the_revenue_chart_has_the_paid_invoices_of_each_day(page):
    html = page()

    expected: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in Invoice.objects.filter(status="paid", paid_at__gte=ago(29).replace(hour=0)):
        expected[invoice.paid_at.date().isoformat()] += invoice.amount
    drawn = {day: Decimal(value) for day, value in bars(html, "chart-revenue-daily").items()}
    assert {day: value for day, value in drawn.items() if value} == expected
    assert '<span class="figure amount">3,350.00</span>' in section(html, "total-revenue")
    assert '<span class="figure amount">3,000.00</span>' in section(html, "total-top-ups")


def test_the_status_chart_ends_with_todays_subscriptions(page):
    html = page()

    lines = dict(re.findall(r'data-series="(\w+)" data-values="([\d,]+)"', html))
    for status, values in lines.items():
        assert int(values.split(",")[-1]) == Subscription.objects.filter(status=status).count()
    assert set(lines) == {"active", "past_due", "paused", "suspended"}


def test_the_lists_link_to_the_records_with_amounts_right_aligned(page, business):
    WebhookEndpoint.objects.create(
        url="https://down.example/hooks", secret="whsec_x", failing_since=ago(1)
    )

    html = page()

    risk = section(html, "renewals-at-risk")
    assert f'href="/admin/accounts/user/{business.emon.pk}/change/">Emon</a>' in risk
    assert '<td class="number">500.00</td>' in risk  # due, and short by
    assert "Farid" not in risk
    endpoints = section(html, "failing-endpoints")
    assert "https://down.example/hooks" in endpoints and "retrying" in endpoints
    assert "Every customer bills cleanly." in section(html, "billing-failures")


def test_an_operator_reading_bengali_reads_bengali_figures(page):
    html = page(**{"Accept-Language": "bn"})

    assert "৩,৩৫০.০০" in section(html, "total-revenue")


def test_the_page_loads_nothing_from_elsewhere(page):
    html = page("?days=365")

    addresses = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert addresses and all(a.startswith(("/", "?", "#")) for a in addresses), addresses
    assert "/static/dashboard/dashboard.css" in addresses


def test_chart_texts_are_escaped():
    plans = [PlanMovement(plan_id=1, plan_name="<b>Gold</b> & co", new=2, cancelled=1, expired=0)]

    svg = charts.plan_chart(plans, label="Plans <x>", language="en")

    assert "<b>" not in svg and "&lt;b&gt;Gold&lt;/b&gt; &amp; co" in svg
    assert 'aria-label="Plans &lt;x&gt;"' in svg


def test_a_chart_of_nothing_draws_flat_bars():
    points = [Point(NOW.date(), Decimal("0.00"), 0)]

    svg = charts.bar_chart(points, label="Nothing", money=True, language="en", kind="x")

    assert 'height="0.00"' in svg and 'data-value="0.00"' in svg


def test_charts_in_bengali_write_bengali_digits():
    points = [Point(NOW.date(), Decimal("1500.00"), 1)]

    svg = charts.bar_chart(points, label="আয়", money=True, language="bn", kind="x")

    assert ">২০ ডিসে</text>" in svg  # the axis' day
    assert "২০ ডিসে, ২০২১: ১,৫০০.০০" in svg  # the bar's tooltip
