from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import TestCase

from events.models import Event, EventType
from events.selectors import event_list
from events.services import (
    EventDraft,
    event_listen,
    event_record,
    event_record_many,
    event_unlisten,
)

MOMENT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
_phones = itertools.count(1)


def new_customer():
    """A user, through Django's user model: events never imports accounts."""
    return get_user_model().objects.create_user(f"+88019{next(_phones):08d}", "a-long-password-1")


@pytest.fixture
def heard():
    got: list[list[Event]] = []
    event_listen(got.append)
    yield got
    event_unlisten(got.append)


def record(customer_id: int, type: str = EventType.CREDIT_TOPPED_UP, **data) -> Event:
    return event_record(
        type=type, customer_id=customer_id, data=data or {"id": 1}, occurred_at=MOMENT
    )


@pytest.mark.django_db
def test_record_renders_the_payload_receivers_get():
    customer = new_customer()
    with transaction.atomic():
        event = event_record(
            type=EventType.CREDIT_TOPPED_UP,
            customer_id=customer.pk,
            data={"id": 7, "amount": "100.00"},
            occurred_at=MOMENT,
            now=datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC),
        )
    event.refresh_from_db()
    assert event.public_id.startswith("evt_") and len(event.public_id) == 36
    assert json.loads(event.payload) == {
        "id": event.public_id,
        "type": "credit.topped_up",
        "occurred_at": "2024-03-01T12:00:00Z",
        "created_at": "2024-03-01T12:00:05Z",
        "customer": {"id": customer.pk, "phone": str(customer.phone)},
        "sequence": 1,
        "data": {"id": 7, "amount": "100.00"},
    }
    assert event.data == {"id": 7, "amount": "100.00"}


@pytest.mark.django_db
def test_sequences_count_per_customer_without_gaps():
    first, second = new_customer(), new_customer()
    with transaction.atomic():
        record(first.pk)
        record(second.pk)
        event_record_many(
            customer_id=first.pk,
            drafts=[
                EventDraft(type=EventType.INVOICE_CREATED, data={"id": 1}, occurred_at=MOMENT),
                EventDraft(type=EventType.INVOICE_PAID, data={"id": 1}, occurred_at=MOMENT),
            ],
        )
        record(first.pk)
    sequences = {
        customer.pk: list(
            Event.objects.filter(customer=customer).order_by("id").values_list("sequence", "type")
        )
        for customer in (first, second)
    }
    assert sequences == {
        first.pk: [
            (1, "credit.topped_up"),
            (2, "invoice.created"),
            (3, "invoice.paid"),
            (4, "credit.topped_up"),
        ],
        second.pk: [(1, "credit.topped_up")],
    }


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused():
    customer = new_customer()
    with pytest.raises(RuntimeError):
        record(customer.pk)
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_an_unknown_type_is_refused():
    customer = new_customer()
    with pytest.raises(ValueError), transaction.atomic():
        record(customer.pk, type="subscription.exploded")


@pytest.mark.django_db
def test_listeners_hear_events_after_commit_only(heard):
    customer = new_customer()
    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        event = record(customer.pk)
        assert heard == []  # not before the commit
    assert [[e.public_id for e in batch] for batch in heard] == [[event.public_id]]


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_no_event_and_tells_no_listener(heard):
    customer = new_customer()

    class Boom(Exception):
        pass

    with (
        TestCase.captureOnCommitCallbacks(execute=True) as callbacks,
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        record(customer.pk)
        raise Boom
    assert callbacks == []
    assert heard == []
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_a_failing_listener_is_logged_and_the_others_still_hear(heard, caplog):
    customer = new_customer()

    def broken(events):
        raise RuntimeError("listener down")

    event_listen(broken)
    try:
        with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
            record(customer.pk)
    finally:
        event_unlisten(broken)
    assert len(heard) == 1
    assert "listener down" in caplog.text


@pytest.mark.django_db
def test_event_list_filters_by_type_and_customer_newest_first():
    first, second = new_customer(), new_customer()
    with transaction.atomic():
        a = record(first.pk, EventType.CREDIT_TOPPED_UP)
        b = record(first.pk, EventType.CREDIT_ADJUSTED)
        c = record(second.pk, EventType.CREDIT_TOPPED_UP)
    assert list(event_list()) == [c, b, a]
    assert list(event_list(type="credit.topped_up")) == [c, a]
    assert list(event_list(customer_id=first.pk)) == [b, a]


def test_events_are_built_with_their_fields_in_order():
    # _events_build passes Event's fields positionally (keyword arguments cost twice as much).
    from events.services import _EVENT_FIELDS

    assert [field.attname for field in Event._meta.concrete_fields] == _EVENT_FIELDS
