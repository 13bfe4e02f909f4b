"""Reads of invoices: a customer only ever sees their own. Statistics run in the database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth

from .models import Invoice

ZERO = Decimal("0.00")
Status = Invoice.Status


def invoice_list(*, user_id: int) -> QuerySet[Invoice]:
    # plan_change: the invoice's proration line.
    return (
        Invoice.objects.filter(user_id=user_id)
        .select_related("plan_change")
        .order_by("-issued_at", "-id")
    )


def _money(value: Decimal | None) -> str:
    return f"{value or ZERO:.2f}"


def invoice_statistics(*, invoices: QuerySet[Invoice]) -> dict[str, Any]:
    """Counts and sums of ``invoices``; void invoices are left out of the totals."""
    billed = ~Q(status=Status.VOID)
    totals = invoices.order_by().aggregate(
        count=Count("id", filter=billed),
        total_amount=Sum("amount", filter=billed),
        paid_count=Count("id", filter=Q(status=Status.PAID)),
        paid_amount=Sum("amount", filter=Q(status=Status.PAID)),
        unpaid_count=Count("id", filter=Q(status=Status.UNPAID)),
        unpaid_amount=Sum("amount", filter=Q(status=Status.UNPAID)),
        void_count=Count("id", filter=Q(status=Status.VOID)),
        void_amount=Sum("amount", filter=Q(status=Status.VOID)),
    )
    months = (
        invoices.filter(billed)
        .annotate(month=TruncMonth("issued_at"))
        .order_by("month")
        .values("month")
        .annotate(count=Count("id"), amount=Sum("amount"))
    )
    return {
        "count": totals["count"],
        "total_amount": _money(totals["total_amount"]),
        "paid": {"count": totals["paid_count"], "amount": _money(totals["paid_amount"])},
        "unpaid": {"count": totals["unpaid_count"], "amount": _money(totals["unpaid_amount"])},
        "void": {"count": totals["void_count"], "amount": _money(totals["void_amount"])},
        "by_month": [
            {
                "month": row["month"].strftime("%Y-%m"),
                "count": row["count"],
                "amount": _money(row["amount"]),
            }
            for row in months
        ],
    }
