"""
The scheduler with and without Celery. Without a broker (the default) it bills and relays in
its own process, as always. With one, its jobs only enqueue, and what a worker runs bills
exactly as the scheduler would have (Kombu's in-memory broker stands in for Redis here;
``test_celery_workers.py`` runs real workers on Redis and PostgreSQL).
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from accounts import sms
from accounts.tests.factories import UserFactory
from config.celery import app
from conftest import wait_for
from invoices import background, billing, jobs
from invoices.models import Invoice
from notices import relay as notice_relay
from notices import tasks as notice_tasks
from subscriptions.models import Subscription
from webhooks import relay as webhook_relay
from webhooks import services as webhook_services
from webhooks import tasks as webhook_tasks
from webhooks.tests.conftest import receiver  # noqa: F401 (a fixture)

from .celery_broker import broker
from .conftest import START, assert_books_balance, top_up

pytestmark = pytest.mark.django_db(transaction=True)  # the jobs close connections, as in threads

PERIOD = timedelta(days=30)
SWEEP = START + 3 * PERIOD + timedelta(minutes=1)
EXPECTED_BOOKS = {
    "paying": ("active", [(0, "paid"), (1, "paid"), (2, "paid"), (3, "paid")], "3000.00"),
    "short": ("suspended", [(0, "paid"), (1, "unpaid")], "100.00"),
    "settled": ("active", [(0, "paid"), (1, "void"), (3, "paid")], "1500.00"),
    "idle": ("active", [(0, "paid")], "0.00"),
}


def queued(queue: str) -> list[tuple[str, list]]:
    """Take every task waiting in the in-memory broker's ``queue``: (name, args)."""
    tasks = []
    with app.connection_for_read() as connection:
        waiting = connection.SimpleQueue(app.amqp.queues[queue])
        while waiting.qsize():
            message = waiting.get(timeout=1)
            args, _, _ = json.loads(message.body)
            tasks.append((message.headers["task"], args))
            message.ack()
    return tasks


def periods(subscription: Subscription) -> list[tuple[int, str]]:
    invoices = Invoice.objects.filter(subscription=subscription).order_by("period_index")
    return list(invoices.values_list("period_index", "status"))


def test_without_a_broker_the_job_bills_in_the_scheduler(customer, bronze):
    top_up(customer, "1500.00", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)

    with time_machine.travel(START + PERIOD + timedelta(minutes=1), tick=False):
        jobs.bill_subscription(subscription.pk)

    assert periods(subscription) == [(0, "paid"), (1, "paid")]


def test_with_a_broker_the_job_enqueues_and_a_worker_bills(customer, bronze):
    top_up(customer, "1500.00", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)

    with time_machine.travel(START + PERIOD + timedelta(minutes=1), tick=False):
        with broker("memory://"):
            jobs.bill_subscription(subscription.pk)
            assert periods(subscription) == [(0, "paid")]  # nothing billed in the scheduler
            [(name, args)] = queued("billing")
            assert (name, args) == ("invoices.bill_subscription", [subscription.pk])

        app.tasks[name].apply(args=args)  # as a worker runs it
        app.tasks[name].apply(args=args)  # and again: delivered twice, billed once

    assert periods(subscription) == [(0, "paid"), (1, "paid")]
    assert_books_balance(customer)


def test_an_unreachable_broker_does_not_stop_billing(customer, bronze):
    top_up(customer, "1500.00", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)

    moment = START + PERIOD + timedelta(minutes=1)
    with time_machine.travel(moment, tick=False), broker("redis://127.0.0.1:1/0"):  # no one there
        saved = dict(app.conf.broker_transport_options)
        app.conf.update(broker_transport_options={"max_retries": 0}, task_publish_retry=False)
        try:
            jobs.bill_subscription(subscription.pk)  # the publish fails at once
        finally:
            app.conf.update(broker_transport_options=saved, task_publish_retry=True)

    assert periods(subscription) == [(0, "paid"), (1, "paid")]  # billed here instead


def lives(bronze) -> dict[str, Subscription]:
    """Customers in each state the sweep meets at SWEEP (three periods after START)."""
    made = {}
    for name, credit in [("paying", "5000.00"), ("short", "600.00"), ("settled", "500.00")]:
        customer = UserFactory()
        top_up(customer, credit, now=START)
        made[name] = billing.subscription_purchase(
            user_id=customer.pk, plan_id=bronze.pk, now=START
        )
    idle = UserFactory()
    top_up(idle, "500.00", now=START)
    bought = SWEEP - timedelta(days=1)
    made["idle"] = billing.subscription_purchase(user_id=idle.pk, plan_id=bronze.pk, now=bought)
    # "settled" is suspended at period 1; credit then arrives and its settlement fails (here:
    # never runs), so the sweep settles it.
    billing.subscription_bill(subscription_id=made["settled"].pk, now=START + PERIOD)
    settled = made["settled"].user
    credit_top_up_unsettled(settled, Decimal("2000.00"), at=START + PERIOD + timedelta(hours=1))
    return made


def credit_top_up_unsettled(customer, amount: Decimal, *, at) -> None:
    customer.refresh_from_db()
    balance = customer.credit + amount
    type(customer).objects.filter(pk=customer.pk).update(credit=balance)
    customer.credit_transactions.create(
        amount=amount, kind="top_up", balance_after=balance, created_at=at
    )


def books(made: dict[str, Subscription]) -> dict[str, tuple]:
    """Each life's status, its invoices' periods and statuses, and its customer's balance."""
    books = {}
    for name, subscription in made.items():
        subscription.refresh_from_db()
        subscription.user.refresh_from_db()
        books[name] = (subscription.status, periods(subscription), str(subscription.user.credit))
    return books


@pytest.mark.parametrize("workers", [False, True], ids=["in the scheduler", "on workers"])
def test_the_sweep_bills_the_same_with_or_without_workers(bronze, settings, workers):
    made = lives(bronze)
    settings.BILLING_TASK_BATCH = 2  # several tasks

    with time_machine.travel(SWEEP, tick=False):
        if workers:
            with broker("memory://", eager=True):  # a task runs as a worker would run it
                jobs.sweep()
        else:
            jobs.sweep()

    # What bill_due in the scheduler's process makes of these lives; workers make the same.
    assert books(made) == EXPECTED_BOOKS
    for subscription in made.values():
        assert_books_balance(subscription.user)
    assert billing.bill_due_count(now=SWEEP) == 0


def test_a_new_leaders_catch_up_is_queued_for_the_workers_with_a_broker(customer, bronze):
    top_up(customer, "1500.00", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    moment = START + 2 * PERIOD + timedelta(minutes=1)

    with time_machine.travel(moment, tick=False):
        with broker("memory://"):
            assert jobs.catch_up(now=moment) == "1 customer(s) queued for the workers"
            [(name, args)] = queued("billing")
        assert periods(subscription) == [(0, "paid")]
        assert (name, args) == ("invoices.bill_customers", [[customer.pk]])
        app.tasks[name].apply(args=args)

    assert periods(subscription) == [(0, "paid"), (1, "paid"), (2, "paid")]


def test_without_a_broker_the_catch_up_bills_in_the_scheduler(customer, bronze):
    top_up(customer, "1500.00", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    moment = START + 2 * PERIOD + timedelta(minutes=1)

    with time_machine.travel(moment, tick=False):
        report = jobs.catch_up(now=moment)

    assert report.startswith("customers: 1, invoices paid: 2,")
    assert periods(subscription) == [(0, "paid"), (1, "paid"), (2, "paid")]


def test_without_a_broker_the_leader_runs_the_relays_itself(db):
    background.relays_start()
    try:
        assert webhook_relay.current() is not None
        assert notice_relay.current() is not None
        assert background.webhook_driver.current() is None
    finally:
        background.relays_stop()
    assert webhook_relay.current() is None and notice_relay.current() is None


def test_with_a_broker_the_leader_only_enqueues_relay_rounds(db, settings):
    settings.WEBHOOK_POLL_SECONDS = 1
    settings.NOTICE_POLL_SECONDS = 1
    with broker("memory://"):
        background.relays_start()
        try:
            assert webhook_relay.current() is None and notice_relay.current() is None
            rounds: list[str] = []
            assert wait_for(
                lambda: len(rounds.extend(n for n, _ in queued("relays")) or rounds) >= 4, 5
            )
        finally:
            background.relays_stop()
    assert {"webhooks.relay_round", "notices.relay_round"} <= set(rounds)
    assert background.webhook_driver.current() is None


def test_a_round_on_a_worker_delivers_webhooks_and_sends_notices_once(
    customer,
    bronze,
    settings,
    receiver,  # noqa: F811
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    webhook_services.endpoint_create(url=receiver.url)
    top_up(customer, "1500.00")
    billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk)

    for _ in range(2):  # a round delivered twice sends nothing twice
        webhook_tasks.relay_round.apply()
        notice_tasks.relay_round.apply()

    types = sorted(json.loads(request.body)["type"] for request in receiver.requests)
    assert types == sorted(
        ["credit.topped_up", "subscription.created", "invoice.created", "invoice.paid"]
    )
    texts = [message.text for message in sms.outbox if message.phone == str(customer.phone)]
    assert texts and len(texts) == len(set(texts))
