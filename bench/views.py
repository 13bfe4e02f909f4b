"""
The two ceilings the API is measured against:

- ``constant``: the least a Django view can do, a constant JSON body (no auth, no database);
- ``plans``, ``invoices`` and ``subscriptions``: what the API's list endpoints do, written by
  hand: the same JWT authentication (token checked, the user read), the same page of rows with
  ``.values()`` and a ``COUNT``, and ``JsonResponse``. No DRF, no serializers.
"""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from invoices.models import Invoice
from plans.models import Plan
from subscriptions.models import Subscription

PAGE = 20


def constant(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _user(request: HttpRequest) -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw:
        return None
    try:
        token = AccessToken(raw)
    except TokenError:
        return None
    return User.objects.filter(pk=token["user_id"], is_active=True).first()


def _money(value) -> str:
    return f"{value:.2f}"


def plans(request: HttpRequest) -> JsonResponse:
    if _user(request) is None:
        return JsonResponse({"message": "no", "code": "not_authenticated"}, status=401)
    queryset = Plan.objects.filter(archived_at__isnull=True).order_by("id")
    rows = list(
        queryset.values(
            "id", "name", "amount", "payment_cycle", "total_valid_months", "is_cancellable"
        )[:PAGE]
    )
    for row in rows:
        row["amount"] = _money(row["amount"])
        row["is_archived"] = False
    return JsonResponse(
        {"count": queryset.count(), "next": None, "previous": None, "results": rows}
    )


def invoices(request: HttpRequest) -> JsonResponse:
    user = _user(request)
    if user is None:
        return JsonResponse({"message": "no", "code": "not_authenticated"}, status=401)
    queryset = Invoice.objects.filter(user_id=user.pk).order_by("-issued_at", "-id")
    rows = list(
        queryset.values(
            "id", "subscription_id", "plan_name", "amount", "period_start", "period_end",
            "status", "issued_at", "paid_at",
        )[:PAGE]
    )  # fmt: skip
    for row in rows:
        row["number"] = f"INV-{row['id']:06d}"
        row["amount"] = _money(row["amount"])
    return JsonResponse(
        {"count": queryset.count(), "next": None, "previous": None, "results": rows}
    )


def subscriptions(request: HttpRequest) -> JsonResponse:
    user = _user(request)
    if user is None:
        return JsonResponse({"message": "no", "code": "not_authenticated"}, status=401)
    queryset = Subscription.objects.filter(user_id=user.pk).order_by("-created_at", "-id")
    rows = list(
        queryset.values(
            "id", "plan_id", "plan_name", "plan_amount", "plan_payment_cycle",
            "plan_months_validity", "plan_cancellable", "start_at", "end_at", "status",
            "term_start_at", "term_first_index", "current_period_index", "period_seconds",
            "next_boundary_at", "scheduled_plan_id",
        )[:PAGE]
    )  # fmt: skip
    results = []
    for row in rows:
        length = timedelta(seconds=row["period_seconds"])
        start = (
            row["term_start_at"] + (row["current_period_index"] - row["term_first_index"]) * length
        )
        serving = row["status"] in Subscription.SERVING_STATUSES
        last = (
            row["current_period_index"] + 1 >= row["term_first_index"] + row["plan_months_validity"]
        )
        scheduled = row["scheduled_plan_id"]
        results.append(
            {
                "id": row["id"],
                "plan_id": row["plan_id"],
                "plan_name": row["plan_name"],
                "plan_amount": _money(row["plan_amount"]),
                "plan_payment_cycle": row["plan_payment_cycle"],
                "plan_months_validity": row["plan_months_validity"],
                "plan_cancellable": row["plan_cancellable"],
                "start_date": timezone.localdate(row["start_at"]),
                "end_date": timezone.localdate(row["end_at"]),
                "is_active": serving,
                "status": row["status"],
                "current_period_start": timezone.localtime(start),
                "current_period_end": timezone.localtime(start + length),
                "next_billing_at": row["next_boundary_at"]
                if serving and (not last or scheduled is not None)
                else None,
                "scheduled_plan_id": scheduled,
                "scheduled_plan_at": row["next_boundary_at"] if scheduled is not None else None,
            }
        )
    return JsonResponse(
        {"count": queryset.count(), "next": None, "previous": None, "results": results}
    )
