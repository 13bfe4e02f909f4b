"""Webhook endpoints and the event stream, for superusers only (customers get 403)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView, ListAPIView, RetrieveAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.filters import FilterBackend
from events.selectors import event_list

from . import services
from .filters import EventFilter
from .selectors import endpoint_list
from .serializers import EventSerializer, RedeliveryResultSerializer, WebhookEndpointSerializer


class IsSuperuser(BasePermission):
    message = "Only a superuser can manage webhooks and read events."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)


class _SuperuserApi(GenericAPIView):
    permission_classes = [IsSuperuser]


class WebhookEndpointListApi(_SuperuserApi, ListAPIView):
    serializer_class = WebhookEndpointSerializer

    def get_queryset(self):
        return endpoint_list()

    @extend_schema(tags=["webhooks"], summary="Webhook endpoints, newest first (superuser)")
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        tags=["webhooks"],
        responses={201: WebhookEndpointSerializer},
        summary="Add a webhook endpoint; the answer carries its signing secret (superuser)",
    )
    def post(self, request: Request) -> Response:
        data = WebhookEndpointSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(
            **{k: v for k, v in data.validated_data.items() if k != "is_active"}
        )
        if data.validated_data.get("is_active") is False:
            endpoint = services.endpoint_update(endpoint_id=endpoint.pk, is_active=False)
        return Response(WebhookEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(_SuperuserApi):
    serializer_class = WebhookEndpointSerializer
    lookup_url_kwarg = "endpoint_id"

    def get_queryset(self):
        return endpoint_list()

    @extend_schema(tags=["webhooks"], summary="A webhook endpoint (superuser)")
    def get(self, request: Request, endpoint_id: int) -> Response:
        return Response(WebhookEndpointSerializer(self.get_object()).data)

    @extend_schema(
        tags=["webhooks"],
        summary="Change an endpoint; is_active true turns a disabled one back on (superuser)",
    )
    def patch(self, request: Request, endpoint_id: int) -> Response:
        endpoint = self.get_object()
        data = WebhookEndpointSerializer(endpoint, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(endpoint_id=endpoint.pk, **data.validated_data)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        tags=["webhooks"],
        responses={204: None},
        summary="Delete an endpoint with its deliveries (superuser)",
    )
    def delete(self, request: Request, endpoint_id: int) -> Response:
        services.endpoint_delete(endpoint_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretApi(_SuperuserApi):
    serializer_class = WebhookEndpointSerializer
    lookup_url_kwarg = "endpoint_id"

    def get_queryset(self):
        return endpoint_list()

    @extend_schema(
        tags=["webhooks"],
        request=None,
        responses={200: WebhookEndpointSerializer},
        summary="Give an endpoint a new secret; the old one stops verifying at once (superuser)",
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint = services.endpoint_rotate_secret(endpoint_id=self.get_object().pk)
        return Response(WebhookEndpointSerializer(endpoint).data)


class _Events(_SuperuserApi):
    serializer_class = EventSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "event_id"

    def get_queryset(self):
        return event_list()


@extend_schema(tags=["webhooks"], summary="Events, newest first, with their payload (superuser)")
class EventListApi(_Events, ListAPIView):
    filter_backends = [FilterBackend]
    filterset_class = EventFilter


@extend_schema(tags=["webhooks"], summary="An event by its evt_ id (superuser)")
class EventDetailApi(_Events, RetrieveAPIView):
    pass


class EventRedeliverApi(_Events):
    @extend_schema(
        tags=["webhooks"],
        request=None,
        responses={202: RedeliveryResultSerializer},
        summary="Send an event again to every active endpoint that wants it (superuser)",
    )
    def post(self, request: Request, event_id: str) -> Response:
        count = services.event_redeliver(event_id=self.get_object().pk)
        return Response(
            {"message": "The event will be sent again.", "deliveries": count},
            status=status.HTTP_202_ACCEPTED,
        )
