"""Paying an invoice (written-out update) stores what the ORM's save did: paid, at the ledger
line's time whatever the caller's zone, with the line as its payment."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from invoices import billing
from invoices.models import Invoice

from .conftest import START, top_up

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("zone", ["UTC", "Asia/Dhaka", "America/St_Johns"])
def test_a_paid_invoice_keeps_its_payment_and_time(customer, bronze, zone):
    now = (START + timedelta(microseconds=123456)).astimezone(ZoneInfo(zone))
    top_up(customer, "1000", now=START)

    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=now)

    invoice = Invoice.objects.select_related("payment").get(subscription=subscription)
    assert (invoice.status, invoice.paid_at) == (Invoice.Status.PAID, now)
    assert invoice.payment.invoice_id == invoice.pk
    assert invoice.payment.created_at == now
    assert invoice.payment.amount == -invoice.amount
