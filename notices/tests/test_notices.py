# ruff: noqa: RUF001  (Bengali digits in the expected texts are meant)
"""Notices made from committed events: once per subscription, period and kind; retried; in the
customer's language; shown to their customer only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.test import override_settings

from accounts.tests.factories import UserFactory
from conftest import ApiClient
from invoices import billing
from notices.models import Notice, NoticeEventSeen
from notices.relay import NoticeRelay

from .conftest import START, drain, purchase, texts_to, top_up

pytestmark = pytest.mark.django_db(transaction=True)

PERIOD = timedelta(days=30)


class FailingBackend:
    def send(self, phone: str, text: str) -> None:
        raise ConnectionError("the SMS gateway is down")


def suspend(customer, bronze):
    """Bronze bought with exactly one period's credit, then suspended at period 1 (13 Nov)."""
    with time_machine.travel(START, tick=False):
        top_up(customer, "500.00")
        subscription = purchase(customer, bronze)
    with time_machine.travel(START + PERIOD, tick=False):
        billing.bill_due()
    return subscription


def test_suspension_is_told_once_across_restarts(customer, bronze):
    subscription = suspend(customer, bronze)

    with time_machine.travel(START + PERIOD + timedelta(minutes=1), tick=False):
        drain()
        drain(NoticeRelay())  # a restarted relay
        NoticeEventSeen.objects.all().delete()  # even with its marker lost
        drain(NoticeRelay())

    # The top-up a month ago is stale news (older than LOOKBACK): only the suspension goes.
    assert texts_to(customer) == [
        "Globalnet Bronze is suspended: your credit is short. Top up 500.00 to resume it.",
    ]
    notice = Notice.objects.get(kind=Notice.Kind.SUSPENDED)
    assert (notice.subscription_id, notice.period_index, notice.status) == (
        subscription.pk,
        1,
        Notice.Status.SENT,
    )
    assert notice.sent_at == START + PERIOD + timedelta(minutes=1)


def test_top_up_that_resumes_sends_a_receipt_and_a_resumption(customer, bronze):
    suspend(customer, bronze)
    with time_machine.travel(START + PERIOD + timedelta(days=2), tick=False):
        top_up(customer, "800.00")
        drain()

    assert texts_to(customer) == [
        "Globalnet Bronze is suspended: your credit is short. Top up 500.00 to resume it.",
        "Top-up of 800.00 received. Your balance is 800.00.",
        "Globalnet Bronze is active again, paid until 13 Dec.",
    ]
    assert Notice.objects.filter(kind=Notice.Kind.RESUMED, period_index=1).count() == 1


def test_nothing_is_sent_for_a_rolled_back_change(customer):
    with time_machine.travel(START, tick=False):
        with pytest.raises(RuntimeError), transaction.atomic():
            top_up(customer, "500.00")
            raise RuntimeError("the request failed after the top-up")
        drain()

    assert texts_to(customer) == []
    assert not Notice.objects.exists()


def test_failed_send_is_retried_on_schedule_then_failed(customer):
    with time_machine.travel(START, tick=False) as clock:
        top_up(customer, "500.00")
        with override_settings(
            SMS_BACKEND="notices.tests.test_notices.FailingBackend",
            NOTICE_RETRY_SCHEDULE=[60, 300],
        ):
            drain()
            notice = Notice.objects.get()
            assert (notice.status, notice.attempts) == (Notice.Status.PENDING, 1)
            assert notice.next_attempt_at == START + timedelta(seconds=60)
            assert "gateway is down" in notice.last_error
            drain()  # not due yet: no second try
            assert Notice.objects.get().attempts == 1

            clock.move_to(START + timedelta(seconds=60))
            drain()
            assert Notice.objects.get().next_attempt_at == START + timedelta(seconds=360)

        clock.move_to(START + timedelta(seconds=360))
        drain()  # the gateway is back

    notice = Notice.objects.get()
    assert (notice.status, notice.attempts) == (Notice.Status.SENT, 3)
    assert texts_to(customer) == ["Top-up of 500.00 received. Your balance is 500.00."]


@override_settings(
    SMS_BACKEND="notices.tests.test_notices.FailingBackend", NOTICE_RETRY_SCHEDULE=[60]
)
def test_a_notice_fails_after_its_last_retry(customer):
    with time_machine.travel(START, tick=False) as clock:
        top_up(customer, "500.00")
        drain()
        clock.move_to(START + timedelta(seconds=60))
        drain()
        clock.move_to(START + timedelta(days=1))
        drain()

    notice = Notice.objects.get()
    assert (notice.status, notice.attempts, notice.sent_at) == (Notice.Status.FAILED, 2, None)


def test_bengali_customer_gets_bengali_texts(bronze):
    customer = UserFactory(language="bn")
    suspend(customer, bronze)
    with time_machine.travel(START + PERIOD + timedelta(days=2), tick=False):
        top_up(customer, "1300.00")
        drain()

    assert texts_to(customer) == [
        "Globalnet Bronze স্থগিত: আপনার ক্রেডিট কম। আবার চালু করতে ৫০০.০০ টপ-আপ করুন।",
        "১,৩০০.০০ টপ-আপ পাওয়া গেছে। আপনার ব্যালান্স ১,৩০০.০০।",
        "Globalnet Bronze আবার চালু, ১৩ ডিসে পর্যন্ত পরিশোধিত।",
    ]
    assert set(Notice.objects.values_list("language", flat=True)) == {"bn"}


def test_texts_fit_in_few_sms_segments(bronze):
    english, bengali = UserFactory(language="en"), UserFactory(language="bn")
    for customer in (english, bengali):
        suspend(customer, bronze)
    with time_machine.travel(START + PERIOD, tick=False):
        drain()

    for notice in Notice.objects.all():
        # GSM-7: 160 characters in one segment; Bengali (UCS-2): 67 per segment of several.
        limit = 160 if notice.language == "en" else 3 * 67
        assert len(notice.text) <= limit, notice.text


def test_customers_who_turned_receipts_off_still_hear_of_suspension(bronze):
    customer = UserFactory(notify_receipts=False)
    suspend(customer, bronze)
    with time_machine.travel(START + PERIOD, tick=False):
        drain()

    assert [notice.kind for notice in Notice.objects.all()] == [Notice.Kind.SUSPENDED]
    assert len(texts_to(customer)) == 1


def test_last_period_and_cancellation(customer, db):
    from plans.models import Plan

    plan = Plan.objects.create(
        name="Globalnet Gold", amount="100.00", total_valid_months=2, is_cancellable=True
    )
    with time_machine.travel(START, tick=False):
        top_up(customer, "200.00")
        subscription = purchase(customer, plan)
    with time_machine.travel(START + PERIOD, tick=False):
        billing.bill_due()
        billing.subscription_cancel(user_id=customer.pk, subscription_id=subscription.pk)
        drain()

    assert texts_to(customer) == [
        "The last period of Globalnet Gold has started: it ends on 13 Dec.",
        "Globalnet Gold is cancelled as of 13 Nov. You will not be charged for it again.",
    ]


def test_customers_see_only_their_own_notices_paginated(customer, bronze):
    other = UserFactory()
    with time_machine.travel(START, tick=False):
        for amount in ("10.00", "20.00", "30.00"):
            top_up(customer, amount)
        top_up(other, "40.00")
        drain()
    client = ApiClient()
    client.force_authenticate(customer)

    page = client.get("/api/v1/notices/?page_size=2").json()
    rest = client.get(page["next"]).json()

    assert page["count"] == 3
    texts = [notice["text"] for notice in page["results"] + rest["results"]]
    assert len(texts) == 3
    assert all("40.00" not in text for text in texts)
    assert page["results"][0]["kind"] == "receipt"
    assert page["results"][0]["status"] == "sent"
    assert client.get(f"/api/v1/notices/{Notice.objects.filter(customer=other).get().pk}/")
    assert ApiClient().get("/api/v1/notices/").status_code == 401


def test_admin_lists_notices(admin_client, customer):
    with time_machine.travel(START, tick=False):
        top_up(customer, "10.00")
        drain()
    response = admin_client.get("/admin/notices/notice/")
    assert response.status_code == 200
    assert "Top-up of 10.00 received" in response.content.decode()


def test_notice_list_queries_do_not_grow_with_the_page(customer, django_assert_max_num_queries):
    with time_machine.travel(START, tick=False):
        for amount in range(1, 26):
            top_up(customer, f"{amount}.00")
        drain()
    client = ApiClient()
    client.force_authenticate(customer)

    with django_assert_max_num_queries(4):
        page = client.get("/api/v1/notices/?page_size=25").json()

    assert len(page["results"]) == 25


def test_marks_of_events_past_the_lookback_are_forgotten_and_nothing_goes_twice(customer, bronze):
    suspend(customer, bronze)
    with time_machine.travel(START + PERIOD + timedelta(minutes=1), tick=False):
        drain()
    assert NoticeEventSeen.objects.exists()

    with time_machine.travel(START + PERIOD + timedelta(days=3), tick=False):
        drain(NoticeRelay())

    assert not NoticeEventSeen.objects.exists()
    assert texts_to(customer) == [
        "Globalnet Bronze is suspended: your credit is short. Top up 500.00 to resume it.",
    ]
