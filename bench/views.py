"""
The two ceilings the API is measured against:

- ``constant``: the least a Django view can do, a constant JSON body (no auth, no database);
- ``plans``, ``invoices`` and ``subscriptions``: what the API's list endpoints do, written by
  hand: the same JWT authentication (token checked, the user read, the token's password hash
  compared), the same page of rows with ``.values()`` and a ``COUNT``, and ``JsonResponse``. No
  DRF, no serializers. They answer the same bytes as the API's first page (``bench.inprocess``
  checks it): compact JSON, datetimes with their microseconds in the current time zone, the
  ``next`` link, the invoice's stored number and its proration credit.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.models import User
from invoices.models import Invoice
from plans.models import Plan
from subscriptions.models import Subscription

PAGE = 20
# The API's JSON: compact, UTF-8 as it is.
COMPACT = {"separators": (",", ":"), "ensure_ascii": False}


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
    user = User.objects.filter(pk=token["user_id"], is_active=True).first()
    # A password reset revokes the tokens issued before it.
    if user is None or token.get("hash_password") != get_md5_hash_password(user.password):
        return None
    return user


def _money(value) -> str:
    return f"{value:.2f}"


def _moment(value, zone) -> str | None:
    """ISO 8601 in the current time zone (read once per request), ``Z`` for UTC."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _refused() -> JsonResponse:
    return JsonResponse({"message": "no", "code": "not_authenticated"}, status=401)


def _first_page(request: HttpRequest, count: int, rows: list) -> JsonResponse:
    following = None
    if count > PAGE:
        query = sorted({**dict(request.GET.lists()), "page": ["2"]}.items())
        following = request.build_absolute_uri(f"{request.path}?{urlencode(query, doseq=True)}")
    body = {"count": count, "next": following, "previous": None, "results": rows}
    return JsonResponse(body, json_dumps_params=COMPACT)


def plans(request: HttpRequest) -> JsonResponse:
    if _user(request) is None:
        return _refused()
    queryset = Plan.objects.filter(archived_at__isnull=True).order_by("id")
    rows = list(
        queryset.values(
            "id", "name", "amount", "payment_cycle", "total_valid_months", "is_cancellable"
        )[:PAGE]
    )
    for row in rows:
        row["amount"] = _money(row["amount"])
        row["is_archived"] = False
    return _first_page(request, queryset.count(), rows)


def invoices(request: HttpRequest) -> JsonResponse:
    user = _user(request)
    if user is None:
        return _refused()
    zone = timezone.get_current_timezone()
    queryset = Invoice.objects.filter(user_id=user.pk).order_by("-issued_at", "-id")
    rows = queryset.values_list(
        "id", "number", "subscription_id", "plan_id", "plan_name", "amount",
        "plan_change__credit_back", "period_start", "period_end", "status", "issued_at",
        "paid_at",
    )[:PAGE]  # fmt: skip
    results = [
        {
            "id": id_,
            "number": number,
            "subscription_id": subscription_id,
            "plan_id": plan_id,
            "plan_name": plan_name,
            "amount": _money(amount),
            "proration_credit": None if credit_back is None else _money(credit_back),
            "period_start": _moment(period_start, zone),
            "period_end": _moment(period_end, zone),
            "status": status,
            "issued_at": _moment(issued_at, zone),
            "paid_at": _moment(paid_at, zone),
        }
        for (
            id_, number, subscription_id, plan_id, plan_name, amount, credit_back, period_start,
            period_end, status, issued_at, paid_at,
        ) in rows
    ]  # fmt: skip
    return _first_page(request, queryset.count(), results)


def subscriptions(request: HttpRequest) -> JsonResponse:
    user = _user(request)
    if user is None:
        return _refused()
    zone = timezone.get_current_timezone()
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
                "start_date": row["start_at"].astimezone(zone).date().isoformat(),
                "end_date": row["end_at"].astimezone(zone).date().isoformat(),
                "is_active": serving,
                "status": row["status"],
                "current_period_start": _moment(start, zone),
                "current_period_end": _moment(start + length, zone),
                "next_billing_at": _moment(row["next_boundary_at"], zone)
                if serving and (not last or scheduled is not None)
                else None,
                "scheduled_plan_id": scheduled,
                "scheduled_plan_at": _moment(row["next_boundary_at"], zone)
                if scheduled is not None
                else None,
            }
        )
    return _first_page(request, queryset.count(), results)
