"""
The admin as an operator uses it: every list and object page answers with a bounded number of
queries whatever the number of rows (what their titles read is selected with the rows), the
scheduler's jobs and runs can only be read, a subscription's page shows its plan history and
invoices, refusals are worded for the operator, and a customer reaches none of it.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from accounts.credit import credit_top_up
from accounts.models import CreditTransaction, User
from events.models import Event
from invoices import billing
from invoices.models import BillingFailure, Invoice
from notices.models import Notice
from subscriptions.models import PlanChange, Subscription
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def operator(db) -> User:
    return User.objects.create_superuser("+8801516100100", "operator-pw-9", name="Operator")


@pytest.fixture
def browser(operator) -> Client:
    browser = Client()  # this package's `client` fixture is an API client
    browser.force_login(operator)
    return browser


def business(count: int, bronze, gold, *, start: int = 0) -> list[Subscription]:
    """``count`` customers, each with a top-up, a subscription moved from Bronze to Gold (two
    invoices, a plan change, events), a webhook delivery with an attempt, a notice, a billing
    failure and a scheduler job with a run: a row of every kind the admin lists."""
    endpoint, _ = WebhookEndpoint.objects.get_or_create(
        url="https://crm.example/hooks", defaults={"secret": "whsec_test"}
    )
    subscriptions = []
    for number in range(start, start + count):
        user = User.objects.create_user(
            f"+8801711{number:06d}", None, phone_verified=True, name=f"Ikram Khan {number}"
        )
        credit_top_up(user_id=user.pk, amount=Decimal("5000"), now=NOW)
        subscription = billing.subscription_purchase(user_id=user.pk, plan_id=bronze.pk, now=NOW)
        billing.subscription_plan_change(
            user_id=user.pk, subscription_id=subscription.pk, plan_id=gold.pk, timing="now",
            now=NOW + timedelta(days=1),
        )  # fmt: skip
        for event in Event.objects.filter(customer=user):
            delivery = WebhookDelivery.objects.create(event=event, endpoint=endpoint)
            WebhookAttempt.objects.create(
                delivery=delivery, attempted_at=NOW, url=endpoint.url, status_code=500,
                latency_ms=120, error="HTTP 500",
            )  # fmt: skip
        Notice.objects.create(
            customer=user, subscription=subscription, period_index=0, kind="reminder",
            phone=str(user.phone), language="en", text="Your renewal is due.", created_at=NOW,
        )  # fmt: skip
        BillingFailure.objects.create(
            user=user, subscription=subscription, error="RuntimeError: bad data",
            first_failed_at=NOW, last_failed_at=NOW,
        )  # fmt: skip
        job = DjangoJob.objects.create(
            id=f"subscription-{subscription.pk}", next_run_time=NOW + timedelta(days=30),
            job_state=b"",
        )  # fmt: skip
        DjangoJobExecution.objects.create(
            job=job, status=DjangoJobExecution.SUCCESS, run_time=NOW, duration=Decimal("0.25")
        )
        subscriptions.append(subscription)
    return subscriptions


def changelists() -> list[str]:
    return [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    ]


def queries(browser: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = browser.get(url)
    assert response.status_code == 200, url
    return len(captured)


def test_every_list_page_takes_as_many_queries_for_two_rows_as_for_eight(
    browser, bronze, gold, django_assert_max_num_queries
):
    business(2, bronze, gold)
    small = {url: queries(browser, url) for url in changelists()}

    business(6, bronze, gold, start=2)

    for url in changelists():
        with django_assert_max_num_queries(small[url]):
            assert browser.get(url).status_code == 200, url
    assert Invoice.objects.count() == 16  # the second size was there: 2 invoices a customer


def test_object_pages_take_as_many_queries_for_two_rows_as_for_eight(
    browser, bronze, gold, django_assert_max_num_queries
):
    """A subscription with its plan history and invoices; a customer with their phones,
    subscriptions and ledger: the same queries whatever the length of their history."""
    short = business(1, bronze, gold)[0]
    long = business(1, bronze, gold, start=1)[0]
    for _ in range(3):  # three more changes of plan and their invoices
        for plan in (bronze, gold):
            billing.subscription_plan_change(
                user_id=long.user_id, subscription_id=long.pk, plan_id=plan.pk, timing="now",
                now=NOW + timedelta(days=2),
            )  # fmt: skip
    credit_top_up(user_id=long.user_id, amount=Decimal("100"), now=NOW)
    assert PlanChange.objects.filter(subscription=long).count() == 7
    pages = [
        ("admin:subscriptions_subscription_change", lambda s: s.pk),
        ("admin:accounts_user_change", lambda s: s.user_id),
        ("admin:invoices_invoice_change", lambda s: s.invoices.first().pk),
        ("admin:django_apscheduler_djangojob_change", lambda s: f"subscription-{s.pk}"),
    ]
    for name, key in pages:
        few = queries(browser, reverse(name, args=[key(short)]))
        with django_assert_max_num_queries(few, info=name):
            assert browser.get(reverse(name, args=[key(long)])).status_code == 200, name


def test_titles_name_the_customer_and_the_plan(bronze, gold):
    subscription = business(1, bronze, gold)[0]
    customer = subscription.user
    first = subscription.invoices.order_by("period_index", "id").first()
    change = PlanChange.objects.get(subscription=subscription)
    top_up = CreditTransaction.objects.get(user=customer, kind="top_up")

    assert str(customer) == "Ikram Khan 0 · +8801711000000"
    assert str(first) == f"{first.number} · Ikram Khan 0 · Globalnet Bronze"
    assert first.number.startswith("INV-2026-")
    assert str(Subscription.objects.get()) == f"Globalnet Gold · Ikram Khan 0 (#{subscription.pk})"
    assert str(change) == "Globalnet Bronze → Globalnet Gold · Ikram Khan 0"
    assert str(top_up) == "Top-up 5000.00 · Ikram Khan 0"
    assert str(BillingFailure.objects.get()) == "Billing of Ikram Khan 0 failing (1 run)"
    assert str(Notice.objects.get()) == "Renewal reminder · Ikram Khan 0 · +8801711000000"
    event = Event.objects.filter(type="invoice.paid").first()
    assert str(event) == f"invoice.paid · Ikram Khan 0 #{event.sequence} ({event.public_id})"
    delivery = WebhookDelivery.objects.get(event=event)
    assert str(delivery) == f"invoice.paid {event.public_id} → https://crm.example/hooks"
    assert str(delivery.attempt_log.get()) == (
        "Attempt at 2026-03-10 12:00:00 → https://crm.example/hooks (HTTP 500)"
    )


def test_the_invoice_list_reads_like_the_business(browser, bronze, gold):
    business(1, bronze, gold)
    credit_top_up(user_id=User.objects.get(name="Ikram Khan 0").pk, amount=Decimal("1000"))

    page = browser.get("/admin/invoices/invoice/").content.decode()
    ledger = browser.get("/admin/accounts/credittransaction/").content.decode()

    assert '<td class="field-money_amount">1,200.00</td>' in page
    assert '<td class="field-customer_user">Ikram Khan 0</td>' in page
    assert '<td class="field-moment_issued_at">2026-03-10</td>' in page
    assert '<span class="status-pill good">Paid</span>' in page
    assert "/pdf/" in page  # the PDF link stays
    assert '<td class="field-money_amount">1,000.00</td>' in ledger
    assert "core/admin.css" in page  # the stylesheet that right-aligns money


def test_a_subscription_page_shows_its_plan_history_and_invoices(browser, bronze, gold):
    subscription = business(1, bronze, gold)[0]

    page = browser.get(f"/admin/subscriptions/subscription/{subscription.pk}/change/")
    text = page.content.decode()

    assert "History of plan changes" in text
    assert re.search(r'class="field-change">\s*<p>Globalnet Bronze → Globalnet Gold</p>', text)
    assert '<span class="status-pill good">Applied</span>' in text
    for invoice in Invoice.objects.all():
        assert f">{invoice.number}</a>" in text
        assert reverse("admin:invoices_invoice_pdf", args=[invoice.pk]) in text
    # Read-only: no field to type in, no row to add or delete.
    assert re.search(r'<input type="(text|number)"|<select|<textarea', text) is None
    assert [inline.has_add_permission for inline in page.context["inline_admin_formsets"]] == [
        False,
        False,
    ]


def test_the_scheduler_pages_can_only_be_read(browser, bronze, gold):
    subscription = business(1, bronze, gold)[0]
    job_id = f"subscription-{subscription.pk}"
    execution = DjangoJobExecution.objects.get()
    jobs = "/admin/django_apscheduler/djangojob/"
    runs = "/admin/django_apscheduler/djangojobexecution/"

    listing = browser.get(jobs)
    text = listing.content.decode()
    assert f'href="{jobs}add/"' not in text  # no Add button, here or in the menu
    assert listing.context["action_form"] is None  # no action: not delete, not "run now"
    assert "0.25 s" in text
    assert f"subscription #{subscription.pk}" in text
    assert browser.get(f"{jobs}add/").status_code == 403
    page = browser.get(f"{jobs}{job_id}/change/")
    assert page.status_code == 200
    assert 'name="next_run_time' not in page.content.decode()
    assert 'name="id"' not in page.content.decode()
    moved = browser.post(f"{jobs}{job_id}/change/", {"id": "x", "next_run_time_0": "2030-01-01"})
    assert moved.status_code == 403
    assert browser.post(f"{jobs}{job_id}/delete/", {"post": "yes"}).status_code == 403
    assert browser.post(f"{runs}{execution.pk}/delete/", {"post": "yes"}).status_code == 403
    assert (
        browser.post(
            runs, {"action": "delete_selected", "_selected_action": [execution.pk], "post": "yes"}
        ).status_code
        == 200
    )  # the action is unknown: nothing happens
    assert DjangoJob.objects.filter(pk=job_id, next_run_time=NOW + timedelta(days=30)).exists()
    assert DjangoJobExecution.objects.filter(pk=execution.pk).exists()
    assert "0.25 s" in browser.get(runs).content.decode()


def test_refusals_are_worded_for_the_operator(browser, operator, customer, bronze, time_machine):
    credit_top_up(user_id=customer.pk, amount=Decimal("500"), now=NOW)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=NOW)
    billing.subscription_pause(user_id=customer.pk, subscription_id=subscription.pk, now=NOW)
    time_machine.move_to(NOW + timedelta(days=31), tick=False)  # the next period is unpaid
    browser.force_login(operator)  # a session of today

    response = browser.post(
        "/admin/subscriptions/subscription/",
        {"action": "resume", "_selected_action": [subscription.pk]},
        follow=True,
    )

    shown = html.unescape(response.content.decode())
    assert (
        f"Globalnet Bronze · {customer.name} (#{subscription.pk}): not resumed — the customer's"
        " credit (0.00) doesn't cover the period's 500.00. Add credit to their account first."
    ) in shown
    assert "Please top up" not in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.status == "paused"


def test_a_customer_reaches_no_admin_page(bronze, gold):
    subscription = business(1, bronze, gold)[0]
    invoice = subscription.invoices.first()
    browser = Client()
    browser.force_login(subscription.user)
    urls = [
        "/admin/",
        "/admin/accounts/",
        "/admin/django_apscheduler/",
        f"/admin/subscriptions/subscription/{subscription.pk}/change/",
        f"/admin/accounts/user/{subscription.user_id}/change/",
        f"/admin/invoices/invoice/{invoice.pk}/change/",
        reverse("admin:invoices_invoice_pdf", args=[invoice.pk]),
        f"/admin/django_apscheduler/djangojob/subscription-{subscription.pk}/change/",
        "/admin/accounts/credittransaction/add/",
        *changelists(),
    ]

    for url in urls:
        response = browser.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
