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
