"""The plan catalogue: everyone authenticated reads it, superusers edit it."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from core.lists import RowListApi

from . import services
from .permissions import IsSuperuserOrReadOnly
from .selectors import plan_list, plan_visible_to
from .serializers import PlanSerializer

BOOLEAN_WORDS = {"true": True, "1": True, "false": False, "0": False}
ARCHIVED = OpenApiParameter(
    "archived", OpenApiTypes.BOOL, description="Superusers: list archived plans instead."
)


class PlanListApi(RowListApi):
    permission_classes = [IsSuperuserOrReadOnly]
    serializer_class = PlanSerializer

    def get_queryset(self):
        archived = self.request.query_params.get("archived")
        if archived is not None and archived.lower() not in BOOLEAN_WORDS:
            raise ValidationError({"archived": [_("Send true or false.")]})
        return plan_list(
            user=self.request.user, archived=BOOLEAN_WORDS.get(str(archived).lower(), False)
        )

    @extend_schema(tags=["plans"], parameters=[ARCHIVED], summary="List purchasable plans")
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        tags=["plans"], responses={201: PlanSerializer}, summary="Add a plan (superuser)"
    )
    def post(self, request: Request) -> Response:
        data = PlanSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = services.plan_create(**data.validated_data)
        return Response(PlanSerializer(plan).data, status=status.HTTP_201_CREATED)


class PlanDetailApi(GenericAPIView):
    permission_classes = [IsSuperuserOrReadOnly]
    serializer_class = PlanSerializer
    lookup_url_kwarg = "plan_id"

    def get_queryset(self):
        return plan_visible_to(user=self.request.user)

    @extend_schema(tags=["plans"], summary="A plan")
    def get(self, request: Request, plan_id: int) -> Response:
        return Response(PlanSerializer(self.get_object()).data)

    def _update(self, request: Request, plan_id: int, *, partial: bool) -> Response:
        plan = self.get_object()
        data = PlanSerializer(plan, data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        plan = services.plan_update(plan=plan, **data.validated_data)
        return Response(PlanSerializer(plan).data)

    @extend_schema(tags=["plans"], summary="Change a plan (superuser)")
    def put(self, request: Request, plan_id: int) -> Response:
        return self._update(request, plan_id, partial=False)

    @extend_schema(tags=["plans"], summary="Change some of a plan's terms (superuser)")
    def patch(self, request: Request, plan_id: int) -> Response:
        return self._update(request, plan_id, partial=True)

    @extend_schema(
        tags=["plans"],
        responses={204: None},
        summary="Archive a plan (superuser): no longer listed or purchasable",
    )
    def delete(self, request: Request, plan_id: int) -> Response:
        services.plan_archive(plan=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
