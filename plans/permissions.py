from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


class IsSuperuserOrReadOnly(BasePermission):
    """Any authenticated user reads the catalogue; only superusers change it."""

    message = "Only a superuser can change the plan catalogue."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or request.user.is_superuser
