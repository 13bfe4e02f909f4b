from functools import cached_property, partial
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination as BasePageNumberPagination
from rest_framework.request import Request


class _RowsPaginator(Paginator):
    """Django's paginator over ``.values()`` rows, counting the queryset they come from: the
    rows' joins (an invoice's change of plan) would only slow the ``COUNT``."""

    def __init__(self, rows: QuerySet, per_page: int, *, counted: QuerySet) -> None:
        super().__init__(rows, per_page)
        self.counted = counted

    @cached_property
    def count(self) -> int:
        return self.counted.count()


class PageNumberPagination(BasePageNumberPagination):
    """``{"count", "next", "previous", "results"}``; ``?page=``, ``?page_size=`` (max 100)."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        # DRF ignores a malformed page_size; a client asking for "abc" items deserves a 400.
        raw = request.query_params.getlist(self.page_size_query_param)
        if not raw:
            return self.page_size
        if len(raw) > 1 or not raw[0].isdigit() or int(raw[0]) < 1:
            raise ValidationError({"page_size": [_("Send one whole number from 1 to 100.")]})
        return min(int(raw[0]), self.max_page_size)

    def paginate_rows(
        self, queryset: QuerySet, columns: tuple[str, ...], request: Request, view: Any = None
    ) -> list[dict[str, Any]]:
        """``paginate_queryset`` for a page of ``queryset.values(*columns)`` (``core.lists``):
        the same page numbers, errors and links."""
        self.django_paginator_class = partial(_RowsPaginator, counted=queryset)
        return self.paginate_queryset(queryset.values(*columns), request, view)
