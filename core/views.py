from typing import NoReturn

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@extend_schema(exclude=True)
@api_view(ALL_METHODS)
@authentication_classes([])
@permission_classes([])
def api_not_found(request: Request, *args: object, **kwargs: object) -> NoReturn:
    """Unknown routes under ``/api/`` answer 404 in the error shape, never Django's HTML page."""
    raise NotFound("There is no such API endpoint. See /api/docs/ for the list.")
