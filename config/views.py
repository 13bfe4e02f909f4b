import logging

from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from invoices.models import BillingFailure
from invoices.scheduler import running_scheduler_exists

logger = logging.getLogger(__name__)


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("Health check: the database did not answer")
        return "error"
    return "ok"


def scheduler_status() -> str:
    try:
        return "running" if running_scheduler_exists() else "stopped"
    except Exception:
        logger.exception("Health check: could not tell whether a scheduler runs")
        return "stopped"


def billing_failures() -> int | None:
    """How many customers' billing is failing (recorded by the engine, retried by each run)."""
    try:
        return BillingFailure.objects.count()
    except Exception:
        logger.exception("Health check: could not count billing failures")
        return None


HEALTH = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(["ok", "error"]),
        "database": serializers.ChoiceField(["ok", "error"]),
        "scheduler": serializers.ChoiceField(["running", "stopped"]),
        "billing_failures": serializers.IntegerField(
            allow_null=True,
            help_text="How many customers' billing is failing (details in the admin); "
            "null if it could not be counted. It does not change `status`.",
        ),
    },
)


class HealthApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    # ``status`` says whether this process can serve (a load balancer acts on it); customers
    # whose billing fails are counted in ``billing_failures`` for monitoring, and do not make
    # the service unhealthy: restarting it would not help them, and the others are billed.
    @extend_schema(
        summary="Service health",
        responses={200: HEALTH, 503: HEALTH},
    )
    def get(self, request: Request) -> Response:
        database = database_status()
        body = {
            "status": "ok" if database == "ok" else "error",
            "database": database,
            "scheduler": scheduler_status(),
            "billing_failures": billing_failures() if database == "ok" else None,
        }
        return Response(body, status=200 if database == "ok" else 503)
