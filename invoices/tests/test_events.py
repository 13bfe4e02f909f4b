"""The events a customer's life records: which, in what order, when, and what they carry."""

from __future__ import annotations

import ast
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from accounts.credit import credit_adjust
from core.exceptions import InsufficientCredit
from events.models import Event
from events.services import event_listen, event_unlisten
from invoices import billing
from invoices.models import Invoice
from plans.models import Plan

from .conftest import START, top_up

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
PERIOD = 30 * DAY


def period_start(k: int) -> datetime:
    return START + k * PERIOD


def recorded(customer) -> list[tuple[int, str, datetime]]:
    return list(
        Event.objects.filter(customer=customer)
        .order_by("sequence")
        .values_list("sequence", "type", "occurred_at")
    )


def new_events(customer, since: int) -> list[tuple[str, datetime]]:
    """(type, occurred_at) of the customer's events after sequence ``since``."""
    return [(type_, at) for sequence, type_, at in recorded(customer) if sequence > since]


def last_sequence(customer) -> int:
    return Event.objects.filter(customer=customer).count()


def data(customer, sequence: int) -> dict:
    return Event.objects.get(customer=customer, sequence=sequence).data


@pytest.fixture
def six_months(db) -> Plan:
    return Plan.objects.create(name="Globalnet Six", amount=Decimal("500.00"), total_valid_months=6)


def test_a_whole_life_records_each_change_once_in_order(customer, six_months, gold):
    seen = 0

    def then(*expected):
        nonlocal seen
        assert new_events(customer, seen) == list(expected)
        seen += len(expected)
        return seen

    # Credit, then a purchase: the subscription, its first invoice, its payment.
    top_up(customer, "1500", now=START)
    then(("credit.topped_up", START))
    assert data(customer, 1) == {
        "id": customer.credit_transactions.get().pk,
        "amount": "1500.00",
        "kind": "top_up",
        "balance_after": "1500.00",
        "invoice_id": None,
        "created_at": "2021-10-14T09:00:00Z",
    }
    subscription = billing.subscription_purchase(
        user_id=customer.pk, plan_id=six_months.pk, now=START
    )
    then(
        ("subscription.created", START),
        ("invoice.created", START),
        ("invoice.paid", START),
    )
    first = subscription.invoices.get()
    assert data(customer, 2)["id"] == subscription.pk
    assert data(customer, 2)["status"] == "active"
    assert (data(customer, 3)["id"], data(customer, 3)["status"]) == (first.pk, "unpaid")
    assert (data(customer, 4)["id"], data(customer, 4)["status"]) == (first.pk, "paid")

    # A late catch-up, three periods at once: each renewal occurred at its period start; the
    # third finds the credit short and suspends the subscription at that period's start.
    late = period_start(3) + 2 * DAY
    billing.bill_due(now=late)
    seen = then(
        ("invoice.created", period_start(1)),
        ("invoice.paid", period_start(1)),
        ("invoice.created", period_start(2)),
        ("invoice.paid", period_start(2)),
        ("invoice.created", period_start(3)),
        ("subscription.suspended", period_start(3)),
    )
    suspended = data(customer, seen)
    assert (suspended["status"], suspended["is_active"]) == ("suspended", False)
    assert suspended["current_period_start"] == period_start(3).isoformat().replace("+00:00", "Z")
    assert data(customer, seen - 1)["status"] == "unpaid"  # as it was when created

    # A top-up resumes it: the top-up, the unpaid invoice paid, the subscription resumed.
    topped = late + DAY
    top_up(customer, "500", now=topped)
    then(
        ("credit.topped_up", topped),
        ("invoice.paid", topped),
        ("subscription.resumed", topped),
    )

    # Pause; credit while paused moves nothing else; a period starts unbilled.
    paused = topped + DAY
    billing.subscription_pause(user_id=customer.pk, subscription_id=subscription.pk, now=paused)
    then(("subscription.paused", paused))
    top_up(customer, "500", now=paused + DAY)
    then(("credit.topped_up", paused + DAY))
    reactivated = period_start(4) + DAY
    billing.subscription_reactivate(
        user_id=customer.pk, subscription_id=subscription.pk, now=reactivated
    )
    then(
        ("invoice.created", reactivated),
        ("invoice.paid", reactivated),
        ("subscription.resumed", reactivated),
    )

    # Staff corrections, either sign.
    adjusted = reactivated + DAY
    credit_adjust(
        user_id=customer.pk, amount=Decimal("200"), by=None, note="goodwill", now=adjusted
    )
    credit_adjust(user_id=customer.pk, amount=Decimal("-50"), by=None, note="fee", now=adjusted)
    seen = then(("credit.adjusted", adjusted), ("credit.adjusted", adjusted))
    assert (data(customer, seen)["amount"], data(customer, seen)["kind"]) == (
        "-50.00",
        "adjustment",
    )

    # A second, cancellable subscription bought and cancelled.
    bought = reactivated + 2 * DAY
    top_up(customer, "1200", now=bought)
    other = billing.subscription_purchase(user_id=customer.pk, plan_id=gold.pk, now=bought)
    billing.subscription_cancel(user_id=customer.pk, subscription_id=other.pk, now=bought + DAY)
    then(
        ("credit.topped_up", bought),
        ("subscription.created", bought),
        ("invoice.created", bought),
        ("invoice.paid", bought),
        ("subscription.cancelled", bought + DAY),
    )

    # Short of credit at period 5, then the end: expired at its boundary, the unpaid voided.
    billing.bill_due(now=period_start(5))
    then(("invoice.created", period_start(5)), ("subscription.suspended", period_start(5)))
    billing.bill_due(now=period_start(6) + DAY)
    seen = then(("subscription.expired", period_start(6)), ("invoice.voided", period_start(6)))
    unpaid = Invoice.objects.get(subscription=subscription, period_index=5)
    assert (data(customer, seen)["id"], data(customer, seen)["status"]) == (unpaid.pk, "void")
    assert data(customer, seen - 1)["status"] == "expired"

    # One event per change, numbered 1, 2, 3… without a gap.
    assert [sequence for sequence, _, _ in recorded(customer)] == list(range(1, seen + 1))


def test_data_is_the_object_as_the_api_shows_it(customer, bronze, client):
    top_up(customer, "1000", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    invoice = subscription.invoices.get()
    ledger = client.get("/api/v1/credit/transactions/").json()["results"]

    assert data(customer, 1) == next(line for line in ledger if line["kind"] == "top_up")
    assert data(customer, 2) == client.get(f"/api/v1/subscriptions/{subscription.pk}/").json()
    assert data(customer, 4) == client.get(f"/api/v1/invoices/{invoice.pk}/").json()


def test_the_payload_carries_the_event_and_the_customer(customer, bronze):
    top_up(customer, "1000", now=START)
    billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)

    event = Event.objects.get(customer=customer, sequence=2)
    body = json.loads(event.payload)
    assert body == {
        "id": event.public_id,
        "type": "subscription.created",
        "occurred_at": "2021-10-14T09:00:00Z",
        "created_at": body["created_at"],
        "customer": {"id": customer.pk, "phone": str(customer.phone)},
        "sequence": 2,
        "data": event.data,
    }
    assert str(customer.phone).startswith("+")


def test_cancelling_voids_each_unpaid_invoice_with_an_event(customer, gold):
    top_up(customer, "1200", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=gold.pk, now=START)
    billing.bill_due(now=period_start(1))  # no credit left: unpaid, suspended
    before = last_sequence(customer)

    cancelled = period_start(1) + DAY
    billing.subscription_cancel(user_id=customer.pk, subscription_id=subscription.pk, now=cancelled)

    assert new_events(customer, before) == [
        ("subscription.cancelled", cancelled),
        ("invoice.voided", cancelled),
    ]
    voided = Invoice.objects.get(subscription=subscription, period_index=1)
    assert voided.status == "void"
    assert data(customer, before + 2)["id"] == voided.pk


def test_a_purchase_refused_for_credit_after_its_writes_leaves_no_event(customer, bronze):
    top_up(customer, "100", now=START)

    with pytest.raises(InsufficientCredit):
        billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)

    assert [type_ for _, type_, _ in recorded(customer)] == ["credit.topped_up"]
    assert not Invoice.objects.exists()


def test_a_failure_after_the_events_were_recorded_rolls_them_back(customer, bronze, monkeypatch):
    top_up(customer, "1000", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    before = last_sequence(customer)
    real_record = billing._Outbox.record

    def record_then_fail(outbox):
        real_record(outbox)
        assert Event.objects.filter(customer=customer).count() > before  # written…
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(billing._Outbox, "record", record_then_fail)

    report = billing.bill_due(now=period_start(1))

    assert report.failed == 1
    assert last_sequence(customer) == before  # …and rolled back with the renewal
    assert subscription.invoices.count() == 1


def test_a_refused_reactivation_leaves_no_event(customer, bronze):
    top_up(customer, "500", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    billing.subscription_pause(user_id=customer.pk, subscription_id=subscription.pk, now=START)
    before = last_sequence(customer)

    with pytest.raises(InsufficientCredit):
        billing.subscription_reactivate(
            user_id=customer.pk, subscription_id=subscription.pk, now=period_start(1) + DAY
        )

    assert last_sequence(customer) == before


def test_listeners_hear_a_change_only_after_it_commits(customer, bronze):
    heard: list[list[str]] = []

    def listener(events):
        heard.append([event.type for event in events])

    event_listen(listener)
    try:
        top_up(customer, "500", now=START)
        with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
            subscription = billing.subscription_purchase(
                user_id=customer.pk, plan_id=bronze.pk, now=START
            )
            assert heard == []
        assert heard == [["subscription.created", "invoice.created", "invoice.paid"]]

        with (
            TestCase.captureOnCommitCallbacks(execute=True) as callbacks,
            pytest.raises(RuntimeError),
            transaction.atomic(),
        ):
            billing.subscription_pause(
                user_id=customer.pk, subscription_id=subscription.pk, now=START
            )
            raise RuntimeError("rolled back")
        assert callbacks == []
        assert len(heard) == 1
    finally:
        event_unlisten(listener)


def test_a_catch_up_records_its_events_with_one_read_and_one_insert(customer, bronze):
    top_up(customer, "5000", now=START)
    billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)

    with CaptureQueriesContext(connection) as queries:
        billing.bill_due(now=period_start(6))

    assert last_sequence(customer) == 1 + 3 + 6 * 2  # six renewals: created and paid each
    on_events = [query["sql"] for query in queries if "events_event" in query["sql"]]
    assert len(on_events) == 2, on_events


def _project_imports(module: str) -> set[str]:
    """The project's modules that ``module`` imports anywhere in its code (lazy imports too)."""
    path = Path(settings.BASE_DIR, *module.split(".")).with_suffix(".py")
    package = module.rpartition(".")[0]
    if not path.exists():
        path, package = Path(settings.BASE_DIR, *module.split("."), "__init__.py"), module
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level <= 1, "the project imports from its own package at most"
            base = ".".join(filter(None, [package if node.level else "", node.module or ""]))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if _is_project_module(name)}


def _is_project_module(name: str) -> bool:
    base = Path(settings.BASE_DIR, *name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def test_the_billing_engine_never_imports_the_scheduler():
    """The engine announces changes as events; its whole import graph is free of the scheduler
    (which imports the engine: today's only import cycle is gone)."""
    seen, todo = set(), ["invoices.billing"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(_project_imports(module))
    assert {"accounts.credit", "events.services", "subscriptions.serializers"} <= seen
    assert "invoices.scheduler" not in seen
