"""
Recording domain events (the outbox) and telling this process's listeners once they commit.

An event is written by the service that makes the change, in the change's own transaction and
while it holds the customer's row lock: it commits with the change or rolls back with it, and
the lock makes each customer's ``sequence`` gapless and in the order the changes happened.

Listeners (:func:`event_listen`) hear the events committed by this process, after the commit;
other processes' events reach readers through the table itself (the scheduler's reconcile loop,
the webhook relay).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import CharField, OuterRef, Subquery
from django.db.models.functions import Cast
from django.utils import timezone

from core.rows import ids_take, rows_copy, rows_insert

from .models import Event, EventType

logger = logging.getLogger(__name__)

__all__ = [
    "EventDraft",
    "EventType",
    "event_listen",
    "event_record",
    "event_record_batch",
    "event_record_many",
    "event_unlisten",
]

Listener = Callable[[list[Event]], None]

_listeners: list[Listener] = []
_listeners_lock = threading.Lock()


@dataclass(frozen=True)
class EventDraft:
    """One event to record with :func:`event_record_many`."""

    type: str
    data: dict[str, Any]
    occurred_at: datetime


def _timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as the API renders datetimes."""
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def _json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def _render(event: Event, data: str | None = None) -> str:
    """The body receivers get (``data``: the event's data, already rendered by :func:`_json`):
    written out piece by piece, the same bytes as ``_json`` of the whole, with the data
    rendered once for the payload and the ``data`` column alike."""
    # The id ("evt_" and hex digits), the type and the timestamps have nothing to escape.
    return (
        f'{{"id":"{event.public_id}","type":"{event.type!s}",'
        f'"occurred_at":"{_timestamp(event.occurred_at)}",'
        f'"created_at":"{_timestamp(event.created_at)}",'
        f'"customer":{{"id":{int(event.customer_id)},"phone":{_json(event.customer_phone)}}},'
        f'"sequence":{int(event.sequence)},"data":{_json(event.data) if data is None else data}}}'
    )


def _events_build(
    customer_id: int,
    phone: str,
    last_sequence: int,
    drafts: Sequence[EventDraft],
    created_at: datetime,
    rendered: list[str] | None = None,
) -> list[Event]:
    """The customer's events for ``drafts``, numbered on from ``last_sequence``, rendered
    (each one's data as JSON appended to ``rendered`` when given)."""
    events = []
    for offset, draft in enumerate(drafts, start=1):
        # Positional arguments, in the order of the fields (_EVENT_FIELDS): for a billing page's
        # thousands of events, keyword arguments cost Django twice as much.
        event = Event(
            None,  # id
            f"evt_{uuid.uuid4().hex}",  # public_id
            EventType(draft.type),
            customer_id,
            phone,
            last_sequence + offset,  # sequence
            draft.occurred_at,
            created_at,
            draft.data,
            "",  # payload, rendered below
            None,  # dispatched_at
        )
        data = _json(draft.data)
        event.payload = _render(event, data)
        if rendered is not None:
            rendered.append(data)
        events.append(event)
    return events


# The order of Event's positional arguments in _events_build (a test keeps it the fields').
_EVENT_FIELDS = [
    "id",
    "public_id",
    "type",
    "customer_id",
    "customer_phone",
    "sequence",
    "occurred_at",
    "created_at",
    "data",
    "payload",
    "dispatched_at",
]


def _customer_phone_and_last_sequence(customer_id: int) -> tuple[str, int]:
    """The customer's phone and their last event's sequence, in one query (an index-only scan)."""
    # Written out: the ORM spent several times the database's time building this subquery,
    # once per change that records events (every purchase, top-up, cancellation…).
    quote = connection.ops.quote_name
    users, events = quote(get_user_model()._meta.db_table), quote(Event._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT phone, (SELECT sequence FROM {events} WHERE customer_id = %s"  # noqa: S608
            f" ORDER BY sequence DESC LIMIT 1) FROM {users} WHERE id = %s",
            [customer_id, customer_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise get_user_model().DoesNotExist(f"No customer {customer_id}")
    phone, sequence = row
    return str(phone), sequence or 0


def event_record_many(
    *,
    customer_id: int,
    drafts: Sequence[EventDraft],
    now: datetime | None = None,
    customer_phone: str | None = None,
) -> list[Event]:
    """
    Record the customer's events, in order, with one read and one insert. Call it inside the
    transaction of the change, holding the customer's row lock; listeners hear them after commit.
    """
    if not drafts:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Events are recorded in the transaction of the change they describe.")
    phone, last = _customer_phone_and_last_sequence(customer_id)
    phone = customer_phone if customer_phone is not None else phone
    events = _events_build(customer_id, phone, last, drafts, now or timezone.now())
    rows_insert(Event, events)
    transaction.on_commit(lambda: _tell_listeners(events))
    return events


def event_record_batch(
    *, drafts: Mapping[int, Sequence[EventDraft]], now: datetime | None = None
) -> list[Event]:
    """
    Record the events of many customers (``{customer_id: drafts in order}``) with one read (their
    phones and last sequences) and one insert: :func:`event_record_many` for a billing batch. Call
    it inside the transaction of the changes, holding every one of these customers' row locks.
    """
    drafts = {customer_id: list(items) for customer_id, items in drafts.items() if items}
    if not drafts:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Events are recorded in the transaction of the change they describe.")
    last = (
        Event.objects.filter(customer_id=OuterRef("pk"))
        .order_by("-sequence")
        .values("sequence")[:1]
    )
    customers = {
        pk: (phone, sequence or 0)
        for pk, phone, sequence in get_user_model()
        .objects.filter(pk__in=list(drafts))
        # The phone as stored (E.164, what str() of it gives), without parsing it again.
        .annotate(last_sequence=Subquery(last), phone_text=Cast("phone", CharField()))
        .values_list("pk", "phone_text", "last_sequence")
    }
    created_at = now or timezone.now()
    events: list[Event] = []
    data: list[str] = []
    for customer_id, items in drafts.items():
        phone, last_sequence = customers[customer_id]
        events += _events_build(customer_id, phone, last_sequence, items, created_at, data)
    _events_insert(events, data)
    transaction.on_commit(lambda: _tell_listeners(events))
    return events


def _events_insert(events: list[Event], data: list[str]) -> None:
    """
    Insert a batch's events (``data``: each one's data, rendered) and set their ids, in order:
    on PostgreSQL ids from the sequence and the rows copied in, the data as rendered (JSON text
    is what the jsonb column reads); elsewhere ``INSERT … VALUES … RETURNING id``. ``bulk_create``
    on PostgreSQL sends each column as an array that psycopg builds in Python, escaping every
    payload character by character: it cost more than the rest of a billing batch.
    """
    if ids_take([(Event, events)]):
        rows_copy(Event, events, given={"data": data})
    else:
        rows_insert(Event, events)


def event_record(
    *,
    type: str,
    customer_id: int,
    data: dict[str, Any],
    occurred_at: datetime,
    now: datetime | None = None,
    customer_phone: str | None = None,
) -> Event:
    """
    Record one event in the transaction of the change it describes (the caller holds the
    customer's row lock): the next sequence, the rendered payload, and after commit the
    listeners. The customer's phone is read with the sequence, in one query.
    """
    [event] = event_record_many(
        customer_id=customer_id,
        drafts=[EventDraft(type=type, data=data, occurred_at=occurred_at)],
        now=now,
        customer_phone=customer_phone,
    )
    return event


def event_listen(callback: Listener) -> None:
    """Call ``callback`` with this process's events after each commit that recorded some."""
    with _listeners_lock:
        if callback not in _listeners:
            _listeners.append(callback)


def event_unlisten(callback: Listener) -> None:
    with _listeners_lock:
        if callback in _listeners:
            _listeners.remove(callback)


def _tell_listeners(events: list[Event]) -> None:
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(list(events))
        except Exception:
            # The change is committed; a listener's failure must not surface as the request's.
            logger.exception("Event listener %r failed", listener)
