"""
A real browser (Debian's Chromium driven by Playwright) against a live server: Swagger UI
renders every operation with no network beyond the server, and an operator finds every part
of the admin. `make test` installs Chromium when it is missing and it can (root with apt-get).
"""

from __future__ import annotations

import shutil
from urllib.parse import urlparse

import pytest

from accounts.models import User

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture
def browser_page(live_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "No Chromium on this machine and none could be installed "
            "(`make test` installs Debian's chromium when run as root with apt-get)."
        )
    server = urlparse(live_server.url).netloc
    outside: list[str] = []

    def only_the_live_server(route):
        if urlparse(route.request.url).netloc == server:
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        context = browser.new_context()
        context.route("**/*", only_the_live_server)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.outside_requests = outside
        yield page
        context.close()
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_the_operations_offline(browser_page, live_server):
    browser_page.goto(f"{live_server.url}/api/docs/")

    browser_page.wait_for_selector(".opblock", state="attached")
    paths = browser_page.locator(".opblock-summary-path").all_inner_texts()
    for expected in (
        "/api/v1/auth/register/",
        "/api/v1/plans/",
        "/api/v1/purchase-plan/",
        "/api/v1/credit/top-up/",
        "/api/v1/invoices/statistics/",
    ):
        assert any(expected in path.replace("\u200b", "") for path in paths), expected
    assert browser_page.outside_requests == []


@pytest.fixture
def operator(transactional_db):
    # Made before the browser starts: Playwright's event loop would give the ORM a connection
    # of its own (Django's connections are context-local), which nothing would close.
    return User.objects.create_superuser("+8801516100100", "operator-secret-9", name="Operator")


@pytest.mark.django_db(transaction=True)
def test_an_operator_finds_every_part_of_the_admin(operator, browser_page, live_server):
    page = browser_page
    page.goto(f"{live_server.url}/admin/")
    page.fill("input[name=username]", "01516100100")
    page.fill("input[name=password]", "operator-secret-9")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")

    index = page.inner_text("#content-main")
    for section in ("Customers", "Plans", "Subscriptions", "Invoices", "Django jobs"):
        assert section in index, section
    for path, title in (
        ("accounts/user/", "customer"),
        ("accounts/credittransaction/", "credit transaction"),
        ("plans/plan/", "plan"),
        ("subscriptions/subscription/", "subscription"),
        ("invoices/invoice/", "invoice"),
        ("django_apscheduler/djangojob/", "job"),
        ("django_apscheduler/djangojobexecution/", "job execution"),
    ):
        response = page.goto(f"{live_server.url}/admin/{path}")
        assert response.status == 200, path
        assert title in page.inner_text("h1").lower(), path
    assert page.outside_requests == []


@pytest.fixture
def dashboard_demo(transactional_db, tmp_path):
    """
    The demo business (``manage.py load_demo_business``), a failing webhook endpoint and a
    customer whose billing failed; and what the dashboard must show, read from the database by
    hand. Made before the browser starts, like ``operator``.
    """
    from collections import defaultdict
    from datetime import timedelta

    from django.utils import timezone

    from dashboard.demo import demo_business_load
    from invoices.forecast import credit_forecast
    from invoices.models import BillingFailure, Invoice
    from subscriptions.models import Subscription
    from webhooks.models import WebhookEndpoint

    now = timezone.now()
    demo_business_load(now=now, customers=24, days=40)
    WebhookEndpoint.objects.create(
        url="https://crm.example/hooks", secret="whsec_demo", failing_since=now - timedelta(hours=5)
    )
    failed = Subscription.objects.order_by("id").first()
    BillingFailure.objects.create(
        user=failed.user, subscription=failed, error="RuntimeError: demo",
        first_failed_at=now, last_failed_at=now,
    )  # fmt: skip
    first_day = timezone.localdate(now) - timedelta(days=29)
    revenue = defaultdict(lambda: "0.00")
    for invoice in Invoice.objects.filter(status="paid", paid_at__date__gte=first_day):
        day = timezone.localdate(invoice.paid_at).isoformat()
        revenue[day] = f"{float(revenue[day]) + float(invoice.amount):.2f}"
    soon = Subscription.objects.filter(status__in=["active", "past_due"])
    short = {
        subscription.user.name
        for subscription in soon.select_related("user")
        if any(not c.covered for c in credit_forecast(user_id=subscription.user_id, now=now,
                                                       days=7).charges)
    }  # fmt: skip
    statuses = {
        status: Subscription.objects.filter(status=status).count()
        for status in ("active", "past_due", "paused", "suspended")
    }
    return {
        "revenue": {day: value for day, value in revenue.items() if value != "0.00"},
        "short": short,
        "statuses": statuses,
        "failed_customer": failed.user.name,
        "screenshots": tmp_path,
    }


@pytest.mark.django_db(transaction=True)
def test_an_operator_reads_the_business_on_the_dashboard(
    operator, dashboard_demo, browser_page, live_server
):
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/")
    page.fill("input[name=username]", "01516100100")
    page.fill("input[name=password]", "operator-secret-9")
    page.click("input[type=submit]")
    page.wait_for_selector("#dashboard")

    # Every chart is drawn, in the page (no script, nothing fetched).
    for chart in ("revenue-daily", "revenue-monthly", "top-ups", "statuses", "suspensions"):
        assert page.locator(f"#chart-{chart} svg.chart").is_visible(), chart
    bars = page.locator("#chart-revenue-daily rect.bar")
    assert bars.count() == 30
    drawn = {bar.get_attribute("data-day"): bar.get_attribute("data-value") for bar in bars.all()}
    assert {day: value for day, value in drawn.items() if value != "0.00"} == (
        dashboard_demo["revenue"]
    )
    for status, count in dashboard_demo["statuses"].items():
        values = page.get_attribute(f"#chart-statuses polyline[data-series={status}]",
                                    "data-values")  # fmt: skip
        assert int(values.split(",")[-1]) == count, status
        assert page.inner_text(f"#total-{status} .figure") == f"{count:,}"

    # The lists that ask for action.
    risk = page.inner_text("#renewals-at-risk")
    assert all(name in risk for name in dashboard_demo["short"]), risk
    assert "https://crm.example/hooks" in page.inner_text("#failing-endpoints")
    assert dashboard_demo["failed_customer"] in page.inner_text("#billing-failures")
    assert page.inner_text("#scheduler-leader") == "none"  # no scheduler runs in the tests
    # Amounts are right-aligned.
    cell = page.locator("#renewals-at-risk td.number").first
    if cell.count():
        assert cell.evaluate("td => getComputedStyle(td).textAlign") == "right"
    page.screenshot(path=dashboard_demo["screenshots"] / "dashboard-30.png", full_page=True)

    page.click("text=7 days")
    page.wait_for_url("**/admin/?days=7")
    assert page.locator("#chart-revenue-daily rect.bar").count() == 7
    page.click("text=365 days")
    page.wait_for_url("**/admin/?days=365")
    assert page.locator("#chart-statuses rect.hover").count() == 365
    page.screenshot(path=dashboard_demo["screenshots"] / "dashboard-365.png", full_page=True)
    assert page.outside_requests == []


@pytest.mark.django_db(transaction=True)
def test_an_operator_reads_invoices_plan_history_customers_and_jobs(
    operator, dashboard_demo, browser_page, live_server
):
    """The admin's main pages at 1280 px with the demo business: names and numbers, money
    right-aligned, a subscription's plan history, a customer's page, and the scheduler's jobs
    that can only be read."""
    from concurrent.futures import ThreadPoolExecutor
    from decimal import Decimal

    from django.db import connection
    from django_apscheduler.models import DjangoJob, DjangoJobExecution

    from accounts.credit import credit_top_up
    from invoices import billing
    from invoices.models import Invoice
    from plans.models import Plan
    from subscriptions.models import Subscription

    def books() -> dict:
        # In a thread of its own: Playwright's loop runs in this one (no ORM in async code).
        try:
            subscription = Subscription.objects.filter(status="active").order_by("id").first()
            other = Plan.objects.filter(archived_at=None).exclude(pk=subscription.plan_id).first()
            credit_top_up(user_id=subscription.user_id, amount=Decimal("5000"))
            _, change, _ = billing.subscription_plan_change(
                user_id=subscription.user_id, subscription_id=subscription.pk,
                plan_id=other.pk, timing="now",
            )  # fmt: skip
            job = DjangoJob.objects.create(id=f"subscription-{subscription.pk}", job_state=b"")
            DjangoJobExecution.objects.create(
                job=job, status=DjangoJobExecution.SUCCESS, run_time=change.requested_at,
                duration=Decimal("0.25"),
            )  # fmt: skip
            newest = Invoice.objects.select_related("user").order_by("-issued_at", "-id").first()
            subscription.refresh_from_db()
            return {
                "subscription": subscription.pk,
                "customer": subscription.user_id,
                "title": str(subscription.user),
                "change": f"{change.from_plan_name} → {change.plan_name}",
                "invoices": list(subscription.invoices.values_list("number", flat=True)),
                "newest": (newest.number, newest.user.name, f"{newest.amount:,.2f}"),
                "job": job.pk,
            }
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        facts = pool.submit(books).result()
    shots = dashboard_demo["screenshots"]
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "01516100100")
    page.fill("input[name=password]", "operator-secret-9")
    page.click("input[type=submit]")
    page.wait_for_selector("#dashboard")

    def fits() -> bool:
        return page.evaluate("document.documentElement.scrollWidth") <= 1280

    # The invoices: the newest first, with its customer's name and its amount on the right.
    page.goto(f"{live_server.url}/admin/invoices/invoice/")
    first = page.locator("#result_list tbody tr").first
    number, name, amount = facts["newest"]
    assert first.locator("th.field-number").inner_text() == number
    assert first.locator("td.field-customer_user").inner_text() == name
    assert first.locator("td.field-money_amount").inner_text() == amount
    money = first.locator("td.field-money_amount")
    assert money.evaluate("td => getComputedStyle(td).textAlign") == "right"
    assert money.evaluate("td => getComputedStyle(td).whiteSpace") == "nowrap"
    assert first.locator("td.field-pdf_link a").inner_text() == "PDF"
    results = page.locator("#changelist .results")
    assert results.evaluate("div => div.scrollWidth <= div.clientWidth")  # every column shows
    assert fits()
    page.screenshot(path=shots / "admin-invoices.png")

    # A subscription: titled by plan, customer and number; its plan history and its invoices.
    page.goto(f"{live_server.url}/admin/subscriptions/subscription/{facts['subscription']}/change/")
    assert f"(#{facts['subscription']})" in page.inner_text("#content h2")
    history = page.inner_text("#plan_changes-group")
    assert facts["change"] in history
    assert "Applied" in history
    invoices = page.inner_text("#invoices-group")
    assert all(number in invoices for number in facts["invoices"])
    assert page.locator("#content-main input[type=text], #content-main select").count() == 0
    assert fits()
    page.screenshot(path=shots / "admin-subscription.png", full_page=True)

    # The customer: named with their phone; credit, phones, subscriptions and ledger.
    page.goto(f"{live_server.url}/admin/accounts/user/{facts['customer']}/change/")
    assert page.inner_text("#content h2") == facts["title"]
    assert facts["change"].split(" → ")[1] in page.inner_text("#subscriptions-group")
    assert "Top-up" in page.inner_text("#credit_transactions-group")
    assert fits()
    page.screenshot(path=shots / "admin-customer.png", full_page=True)

    # The scheduler's jobs: read, never added, moved or deleted by hand.
    page.goto(f"{live_server.url}/admin/django_apscheduler/djangojob/")
    assert page.locator("#content-main a.addlink").count() == 0
    assert page.locator("select[name=action]").count() == 0
    row = page.locator("#result_list tbody tr").first
    assert row.locator("th.field-id").inner_text() == facts["job"]
    assert row.locator("td.field-number_average_run").inner_text() == "0.25 s"
    assert fits()
    page.screenshot(path=shots / "admin-jobs.png")
    row.locator("th.field-id a").click()
    page.wait_for_selector("#content-main")
    assert page.locator("input[name=id], input[name^=next_run_time]").count() == 0
    assert page.locator("input[type=submit]").count() == 0
    assert page.outside_requests == []
