"""
Endpoints that bill: purchase, cancel and (de)activation of subscriptions, and the invoices.
They live here, beside the billing engine, because subscriptions never import invoices.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView, RetrieveAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.filters import FilterBackend
from core.idempotency import IDEMPOTENCY_KEY, idempotent
from core.lists import RowListApi
from core.schema import ERROR_DESCRIPTIONS, ErrorSerializer
from subscriptions.serializers import PlanChangeSerializer, SubscriptionSerializer

from . import billing
from .filters import InvoiceFilter
from .forecast import credit_forecast
from .pdf import invoice_pdf_render
from .selectors import invoice_list, invoice_statistics
from .serializers import (
    ActivationInputSerializer,
    ForecastInputSerializer,
    ForecastSerializer,
    InvoiceSerializer,
    InvoiceStatisticsSerializer,
    PlanChangeInputSerializer,
    PlanChangeQuoteSerializer,
    PurchaseInputSerializer,
)


def _subscription_envelope(name: str):
    return inline_serializer(
        name, {"message": serializers.CharField(), "data": SubscriptionSerializer()}
    )


class PurchasePlanApi(APIView):
    error_statuses = (402, 404, 409)

    @extend_schema(
        tags=["subscriptions"],
        request=PurchaseInputSerializer,
        responses={201: _subscription_envelope("PurchaseResult")},
        parameters=[IDEMPOTENCY_KEY],
        summary="Buy a plan; its first period is invoiced and paid from credit at once",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = PurchaseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = billing.subscription_purchase(
            user_id=request.user.pk, plan_id=data.validated_data["plan"]
        )
        return Response(
            {
                "message": "Purchase Plan Successful",
                "data": SubscriptionSerializer(subscription).data,
            },
            status=status.HTTP_201_CREATED,
        )


class CancelPlanApi(APIView):
    error_statuses = (409,)

    @extend_schema(
        tags=["subscriptions"],
        request=None,
        responses={201: _subscription_envelope("CancelResult")},
        summary="Cancel a subscription of a cancellable plan (no refund)",
    )
    def post(self, request: Request, subscription_id: int) -> Response:
        subscription = billing.subscription_cancel(
            user_id=request.user.pk, subscription_id=subscription_id
        )
        return Response(
            {
                "message": "Plan cancelled successfully",
                "data": SubscriptionSerializer(subscription).data,
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        tags=["subscriptions"],
        request=None,
        responses={201: _subscription_envelope("CancelResultPut")},
        summary="Cancel a subscription (PUT spelling)",
    )
    def put(self, request: Request, subscription_id: int) -> Response:
        return self.post(request, subscription_id)


class SubscriptionActivationApi(APIView):
    error_statuses = (402, 409)

    def _set(self, request: Request, subscription_id: int) -> Response:
        data = ActivationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = billing.subscription_set_active(
            user_id=request.user.pk,
            subscription_id=subscription_id,
            active=data.validated_data["is_active"],
        )
        return Response(SubscriptionSerializer(subscription).data)

    @extend_schema(
        tags=["subscriptions"],
        request=ActivationInputSerializer,
        responses={200: SubscriptionSerializer},
        summary="Pause (false) or reactivate (true) a subscription",
    )
    def put(self, request: Request, subscription_id: int) -> Response:
        return self._set(request, subscription_id)

    @extend_schema(
        tags=["subscriptions"],
        request=ActivationInputSerializer,
        responses={200: SubscriptionSerializer},
        summary="Pause (false) or reactivate (true) a subscription",
    )
    def patch(self, request: Request, subscription_id: int) -> Response:
        return self._set(request, subscription_id)


class PlanChangeApi(APIView):
    error_statuses = (400, 402, 404, 409)

    @extend_schema(
        tags=["subscriptions"],
        request=PlanChangeInputSerializer,
        responses={
            200: inline_serializer(
                "PlanChangeResult",
                {
                    "message": serializers.CharField(),
                    "data": SubscriptionSerializer(),
                    "change": PlanChangeSerializer(),
                    "quote": PlanChangeQuoteSerializer(),
                },
            )
        },
        parameters=[IDEMPOTENCY_KEY],
        summary="Move a subscription to another plan: now (prorated) or at the period's end",
    )
    @idempotent
    def post(self, request: Request, subscription_id: int) -> Response:
        data = PlanChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        timing = data.validated_data["at"]
        subscription, change, quote = billing.subscription_plan_change(
            user_id=request.user.pk,
            subscription_id=subscription_id,
            plan_id=data.validated_data["plan"],
            timing=timing,
        )
        message = "Plan changed" if timing == "now" else "Plan change scheduled"
        return Response(
            {
                "message": message,
                "data": SubscriptionSerializer(subscription).data,
                "change": PlanChangeSerializer(change).data,
                "quote": PlanChangeQuoteSerializer(quote).data,
            }
        )

    @extend_schema(
        tags=["subscriptions"],
        request=None,
        responses={200: _subscription_envelope("PlanChangeWithdrawn")},
        summary="Withdraw the subscription's scheduled change of plan",
    )
    def delete(self, request: Request, subscription_id: int) -> Response:
        subscription = billing.subscription_plan_change_withdraw(
            user_id=request.user.pk, subscription_id=subscription_id
        )
        return Response(
            {
                "message": "Plan change withdrawn",
                "data": SubscriptionSerializer(subscription).data,
            }
        )


class PlanChangePreviewApi(APIView):
    error_statuses = (400, 404, 409)

    @extend_schema(
        tags=["subscriptions"],
        parameters=[PlanChangeInputSerializer],
        responses={200: PlanChangeQuoteSerializer},
        summary="What a change of plan would move (credit back, charge, balance); writes nothing",
    )
    def get(self, request: Request, subscription_id: int) -> Response:
        data = PlanChangeInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        quote = billing.subscription_plan_change_preview(
            user_id=request.user.pk,
            subscription_id=subscription_id,
            plan_id=data.validated_data["plan"],
            timing=data.validated_data["at"],
        )
        return Response(PlanChangeQuoteSerializer(quote).data)


class _OwnInvoices(GenericAPIView):
    serializer_class = InvoiceSerializer
    filter_backends = [FilterBackend]
    filterset_class = InvoiceFilter

    def get_queryset(self):
        return invoice_list(user_id=self.request.user.pk)


@extend_schema(tags=["invoices"], summary="Your invoices, newest first")
class InvoiceListApi(_OwnInvoices, RowListApi):
    pass


@extend_schema(tags=["invoices"], summary="One of your invoices")
class InvoiceDetailApi(RetrieveAPIView):
    serializer_class = InvoiceSerializer
    lookup_url_kwarg = "invoice_id"

    def get_queryset(self):
        return invoice_list(user_id=self.request.user.pk)


class PdfRenderer(BaseRenderer):
    """Passes a rendered PDF through; lets content negotiation accept ``application/pdf``."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return data


class InvoicePdfApi(RetrieveAPIView):
    lookup_url_kwarg = "invoice_id"
    renderer_classes = [PdfRenderer]
    pagination_class = None

    def get_queryset(self):
        return invoice_list(user_id=self.request.user.pk).select_related("user", "plan_change")

    def handle_exception(self, exc: Exception) -> Response:
        # Errors keep the API's JSON shape, whatever the client said it accepts.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        tags=["invoices"],
        responses={
            (200, PdfRenderer.media_type): OpenApiResponse(
                OpenApiTypes.BINARY, description="The invoice as a PDF, in your language."
            ),
            # Refusals stay JSON (the renderer list only has the PDF one).
            **{
                (status, JSONRenderer.media_type): OpenApiResponse(
                    ErrorSerializer, description=ERROR_DESCRIPTIONS[status]
                )
                for status in (401, 403, 404)
            },
            (406, JSONRenderer.media_type): OpenApiResponse(
                ErrorSerializer,
                description="The `Accept` header rules out `application/pdf` (`not_acceptable`).",
            ),
        },
        summary="One of your invoices as a PDF document",
    )
    def get(self, request: Request, invoice_id: int) -> Response:
        invoice = self.get_object()
        return Response(
            invoice_pdf_render(invoice=invoice),
            content_type=PdfRenderer.media_type,
            headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'},
        )


class InvoiceStatisticsApi(_OwnInvoices):
    pagination_class = None

    @extend_schema(
        tags=["invoices"],
        responses={200: InvoiceStatisticsSerializer},
        summary="Counts and sums of your invoices (same filters as the list)",
    )
    def get(self, request: Request) -> Response:
        invoices = self.filter_queryset(self.get_queryset())
        return Response(invoice_statistics(invoices=invoices))


class CreditForecastApi(APIView):
    error_statuses = (400,)

    @extend_schema(
        tags=["invoices"],
        parameters=[ForecastInputSerializer],
        responses={200: ForecastSerializer},
        summary="The charges billing will make from your credit if nothing changes",
    )
    def get(self, request: Request) -> Response:
        data = ForecastInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        forecast = credit_forecast(
            user_id=request.user.pk, now=timezone.now(), days=data.validated_data["days"]
        )
        return Response(ForecastSerializer(forecast).data)
