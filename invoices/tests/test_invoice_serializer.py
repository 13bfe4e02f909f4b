"""InvoiceSerializer writes its fields out by hand: its output must stay exactly what DRF's loop
over the declared fields gives, for every kind of invoice (paid, unpaid, void, after a change of
plan with a credit back)."""

from datetime import timedelta

import pytest
from rest_framework import serializers

from invoices import billing
from invoices.models import Invoice
from invoices.selectors import invoice_list
from invoices.serializers import InvoiceSerializer

from .conftest import START, top_up

pytestmark = pytest.mark.django_db

PERIOD = timedelta(days=30)


def generic(invoice: Invoice) -> dict:
    """What the declared fields give through DRF's own loop."""
    serializer = InvoiceSerializer(invoice)
    return dict(serializers.Serializer.to_representation(serializer, invoice))


def test_every_kind_of_invoice_renders_as_drfs_loop_would(customer, bronze, gold):
    top_up(customer, "1000", now=START)
    subscription = billing.subscription_purchase(user_id=customer.pk, plan_id=bronze.pk, now=START)
    billing.bill_due(now=START + PERIOD)  # 500 left: period 1 paid
    billing.bill_due(now=START + 2 * PERIOD)  # nothing left: period 2 unpaid, suspended
    top_up(customer, "2000", now=START + 2 * PERIOD + timedelta(days=1))  # settles period 2
    billing.subscription_plan_change(
        user_id=customer.pk,
        subscription_id=subscription.pk,
        plan_id=gold.pk,
        timing="now",
        now=START + 2 * PERIOD + timedelta(days=10),
    )
    cancelled = billing.subscription_purchase(
        user_id=customer.pk, plan_id=bronze.pk, now=START + 2 * PERIOD + timedelta(days=11)
    )
    billing.bill_due(now=START + 3 * PERIOD)
    billing.subscription_pause(
        user_id=customer.pk, subscription_id=cancelled.pk, now=START + 3 * PERIOD
    )

    invoices = list(invoice_list(user_id=customer.pk))
    statuses = {invoice.status for invoice in invoices}
    assert "paid" in statuses and any(i.plan_change_id for i in invoices)
    for invoice in invoices:
        fast = InvoiceSerializer(invoice).data
        assert list(fast) == list(InvoiceSerializer().fields)  # keys in the declared order
        assert fast == generic(invoice)
    changed = next(i for i in invoices if i.plan_change_id)
    assert InvoiceSerializer(changed).data["proration_credit"] == str(
        changed.plan_change.credit_back
    )
    unpaid = Invoice(
        subscription=subscription, user=customer, period_index=9, period_start=START,
        period_end=START + PERIOD, plan=bronze, plan_name="Bronze", amount=bronze.amount,
        issued_at=START, number="INV-2021-999999",
    )  # fmt: skip
    assert InvoiceSerializer(unpaid).data == generic(unpaid)
    assert InvoiceSerializer(invoices, many=True).data == [generic(i) for i in invoices]
