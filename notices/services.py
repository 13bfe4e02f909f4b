"""
Making notices from committed events, and sending them.

Events are read from the table, so a notice leaves only for a change that committed. The
relay's marker is its own table (``NoticeEventSeen``; ``Event.dispatched_at`` belongs to the
webhook relay): an event is read while unseen and recorded seen in the transaction that inserts
its notices. Event ids are not committed in order, so no id watermark: any unseen event created
in the last ``LOOKBACK`` is read (older ones are stale news). Two relays reading the same event,
or a marker lost, still make one notice: the inserts ignore the unique constraints' conflicts.

Sending claims a notice with a conditional update (a lease), sends it outside any transaction,
then records the outcome; a failure is retried after ``NOTICE_RETRY_SCHEDULE``, then failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from events.models import Event, EventType
from invoices.forecast import credit_forecast
from subscriptions.models import Subscription

from . import texts
from .models import Notice, NoticeEventSeen

logger = logging.getLogger(__name__)

Kind = Notice.Kind
LOOKBACK = timedelta(days=2)
EVENT_BATCH = 500

# The event types notices are made from.
EVENT_TYPES = [
    EventType.SUBSCRIPTION_SUSPENDED,
    EventType.SUBSCRIPTION_PAST_DUE,
    EventType.SUBSCRIPTION_RESUMED,
    EventType.SUBSCRIPTION_CANCELLED,
    EventType.INVOICE_PAID,
    EventType.CREDIT_TOPPED_UP,
]

# Kinds a customer may turn off, by the preference that does it (others always go).
PREFERENCE = {
    Kind.REMINDER: "notify_reminders",
    Kind.LAST_PERIOD: "notify_reminders",
    Kind.RECEIPT: "notify_receipts",
}


def wants(customer: User, kind: str) -> bool:
    """Whether the customer wants notices of this kind (suspension and the like always go)."""
    preference = PREFERENCE.get(kind)
    return preference is None or getattr(customer, preference)


def _period_index(subscription: Subscription, period_start: datetime) -> int:
    return subscription.period_index_at(period_start)


def _grace_end(subscription: Subscription, period_start: datetime) -> datetime:
    billing_day = subscription.period_seconds / subscription.plan_payment_cycle
    grace_days = settings.BILLING_GRACE_DAYS
    return period_start + timedelta(seconds=billing_day * grace_days)


def _from_event(
    event: Event, customer: User, subscriptions: dict[int, Subscription], now: datetime
) -> Notice | None:
    """The notice an event calls for, if any (not yet saved)."""
    data = event.data
    language = customer.language
    notice = Notice(
        customer_id=event.customer_id,
        event_id=event.pk,
        phone=event.customer_phone,
        language=language,
        created_at=now,
        next_attempt_at=now,
    )
    if event.type == EventType.CREDIT_TOPPED_UP:
        notice.kind = Kind.RECEIPT
        notice.text = texts.receipt(
            language=language,
            amount=Decimal(data["amount"]),
            balance=Decimal(data["balance_after"]),
        )
        return notice
    subscription_id = (
        data["subscription_id"] if event.type == EventType.INVOICE_PAID else data["id"]
    )
    subscription = subscriptions.get(subscription_id)
    if subscription is None:
        return None
    plan = subscription.plan_name
    notice.subscription_id = subscription.pk
    if event.type == EventType.INVOICE_PAID:
        index = _period_index(subscription, parse_datetime(data["period_start"]))
        # The last period of a plan of several (a one-period plan's purchase says it all).
        if index == subscription.term_first_index or index != subscription.term_end_index - 1:
            return None
        notice.kind = Kind.LAST_PERIOD
        notice.period_index = index
        notice.text = texts.last_period(language=language, plan=plan, ends=subscription.end_at)
        return notice
    period_start = parse_datetime(data["current_period_start"])
    notice.period_index = _period_index(subscription, period_start)
    if event.type == EventType.SUBSCRIPTION_SUSPENDED:
        notice.kind = Kind.SUSPENDED
        # The period's price: enough whatever the credit was then (the event doesn't say).
        notice.text = texts.suspended(language=language, plan=plan, amount=subscription.plan_amount)
    elif event.type == EventType.SUBSCRIPTION_RESUMED:
        notice.kind = Kind.RESUMED
        end = parse_datetime(data["current_period_end"])
        notice.text = texts.resumed(language=language, plan=plan, until=end)
    elif event.type == EventType.SUBSCRIPTION_CANCELLED:
        notice.kind = Kind.CANCELLED
        notice.text = texts.cancelled(language=language, plan=plan, at=event.occurred_at)
    elif event.type == EventType.SUBSCRIPTION_PAST_DUE:
        notice.kind = Kind.PAST_DUE
        # Grace ends BILLING_GRACE_DAYS after the period start, never after the period.
        period_end = parse_datetime(data["current_period_end"])
        until = min(_grace_end(subscription, period_start), period_end)
        notice.text = texts.past_due(
            language=language, plan=plan, amount=subscription.plan_amount, until=until
        )
    else:
        return None
    return notice


def notices_from_events(*, now: datetime | None = None, batch: int = EVENT_BATCH) -> int:
    """Make the notices of up to ``batch`` unseen recent events; returns how many were read."""
    now = now or timezone.now()
    seen = NoticeEventSeen.objects.filter(event_id=OuterRef("pk"))
    # A plain read: nothing new is the usual case, and needs no transaction.
    events = list(
        Event.objects.filter(type__in=EVENT_TYPES, created_at__gte=now - LOOKBACK)
        .exclude(Exists(seen))
        .order_by("id")
        .only("id", "type", "customer_id", "customer_phone", "occurred_at", "data")[:batch]
    )
    if not events:
        return 0
    customers = User.objects.in_bulk({event.customer_id for event in events})
    subscription_ids = {
        event.data.get("subscription_id") or event.data.get("id")
        for event in events
        if event.type != EventType.CREDIT_TOPPED_UP
    }
    subscriptions = Subscription.objects.in_bulk(subscription_ids)
    notices = []
    for event in events:
        customer = customers[event.customer_id]
        notice = _from_event(event, customer, subscriptions, now)
        if notice is not None and wants(customer, notice.kind):
            notices.append(notice)
    with transaction.atomic():
        Notice.objects.bulk_create(notices, ignore_conflicts=True)
        NoticeEventSeen.objects.bulk_create(
            [NoticeEventSeen(event_id=event.pk, seen_at=now) for event in events],
            ignore_conflicts=True,
        )
    return len(events)


def events_seen_prune(*, now: datetime | None = None) -> int:
    """Forget the marks of events older than ``LOOKBACK``: those are never read again anyway."""
    cutoff = (now or timezone.now()) - LOOKBACK
    deleted, _ = NoticeEventSeen.objects.filter(event__created_at__lt=cutoff).delete()
    return deleted


# --- Reminders, from the clock -------------------------------------------------------------------


def _reminder_step(remaining: timedelta, steps: list[int], billing_day: float) -> int | None:
    """The reminder due with ``remaining`` time to go: the fewest days before that it is within
    (a relay that was down sends the latest step only)."""
    due = [days for days in steps if remaining <= timedelta(seconds=days * billing_day)]
    return min(due) if due else None


def reminders_make(*, now: datetime | None = None) -> int:
    """
    Remind each customer (who wants reminders) of every period start in the next
    ``NOTICE_REMINDER_DAYS`` billing days that their credit will not cover, counting every other
    charge due before it (the billing engine's own forecast). Returns how many were made.
    """
    now = now or timezone.now()
    steps = settings.NOTICE_REMINDER_DAYS
    billing_day = settings.BILLING_DAY_SECONDS
    until = now + timedelta(seconds=max(steps) * billing_day)
    customer_ids = set(
        Subscription.objects.filter(
            status__in=Subscription.SERVING_STATUSES,  # billed at their next period start
            next_boundary_at__lte=until,
            user__notify_reminders=True,
        ).values_list("user_id", flat=True)
    )
    notices = []
    for customer in User.objects.filter(pk__in=customer_ids).order_by("pk"):
        forecast = credit_forecast(user_id=customer.pk, now=now, days=max(steps))
        short = [c for c in forecast.charges if not c.covered and c.at > now]
        if not short:
            continue
        subscriptions = Subscription.objects.in_bulk({charge.subscription_id for charge in short})
        for charge in short:
            step = _reminder_step(charge.at - now, steps, billing_day)
            subscription = subscriptions[charge.subscription_id]
            if step is None:
                continue
            notices.append(
                Notice(
                    customer=customer,
                    subscription=subscription,
                    period_index=_period_index(subscription, charge.at),
                    kind=Kind.REMINDER,
                    days_before=step,
                    phone=str(customer.phone),
                    language=customer.language,
                    # What this charge lacks once the charges before it are paid.
                    text=texts.reminder(
                        language=customer.language,
                        plan=charge.plan_name,
                        amount=charge.amount - charge.balance_after,
                        at=charge.at,
                    ),
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    Notice.objects.bulk_create(notices, ignore_conflicts=True)
    return len(notices)


# --- Sending ---------------------------------------------------------------------------------


def notices_claim(*, now: datetime, limit: int, lease: timedelta) -> list[Notice]:
    """
    Take up to ``limit`` due notices, oldest due first, for ``lease``: each is claimed by a
    conditional update whose row count says who won, so two relays never send one at once.
    """
    candidates = list(
        Notice.objects.filter(status=Notice.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("pk", "next_attempt_at")[: limit * 2]
    )
    claimed = []
    for pk, due in candidates:
        won = Notice.objects.filter(
            pk=pk, status=Notice.Status.PENDING, next_attempt_at=due
        ).update(next_attempt_at=now + lease, attempts=F("attempts") + 1)
        if won:
            claimed.append(pk)
            if len(claimed) >= limit:
                break
    return list(Notice.objects.filter(pk__in=claimed).order_by("id"))


@dataclass(frozen=True)
class Outcome:
    notice: Notice
    error: str = ""


def notice_record(*, outcome: Outcome, now: datetime) -> None:
    """Sent, or retried after the schedule's next delay, or failed once it is used up."""
    notice = outcome.notice
    schedule = settings.NOTICE_RETRY_SCHEDULE
    if not outcome.error:
        changes = {"status": Notice.Status.SENT, "sent_at": now, "next_attempt_at": None}
    elif notice.attempts > len(schedule):
        changes = {"status": Notice.Status.FAILED, "next_attempt_at": None}
    else:
        delay = timedelta(seconds=schedule[notice.attempts - 1])
        changes = {"next_attempt_at": now + delay}
    if outcome.error:
        changes["last_error"] = outcome.error[:500]
    Notice.objects.filter(pk=notice.pk, status=Notice.Status.PENDING).update(**changes)
