"""
The list endpoints' lean path: DRF's view as everywhere (authentication, permissions, throttles,
filters, pagination, the error shape, the schema), with the page read by ``.values()`` and each
row written by the serializer's ``row_representation``: no model instance, no serializer and no
DRF field object per row. Those were most of a list's CPU time beside a hand-written view
(``bench/views.py``, ``bench/inprocess.py``).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response


class RowListApi(ListAPIView):
    """
    A ``ListAPIView`` whose ``serializer_class`` (still what the schema describes) offers
    ``COLUMNS``, the columns its output is made of, and ``row_representation(row, zone)``,
    which writes one row of them; its ``to_representation`` uses the same function, and its
    tests check the output equals DRF's loop over the declared fields.
    """

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        serializer_class = self.get_serializer_class()
        columns = serializer_class.COLUMNS
        if self.paginator is None:
            rows = list(queryset.values(*columns))
        else:
            rows = self.paginator.paginate_rows(queryset, columns, request, view=self)
        represent = serializer_class.row_representation
        zone = timezone.get_current_timezone()
        results = [represent(row, zone) for row in rows]
        if self.paginator is None:
            return Response(results)
        return self.get_paginated_response(results)
