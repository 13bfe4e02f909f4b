"""
Schemathesis drives every operation of our own OpenAPI schema, as a customer and as a
superuser: no 5xx, and every response matches the documented status codes, content type,
headers and schema. What it found is pinned down in ``test_fuzz_regressions.py``.

Two of its checks are left out on purpose. ``positive_data_acceptance``: many schema-valid
requests are refused by rules a JSON schema can't state (a string that is not a real phone
number, a plan id that does not exist, ``is_active`` and its alias disagreeing), and a 4xx is
right for them. ``negative_data_rejection``: once its real findings were fixed (malformed
``page_size``, ``archived`` and empty filters are now 400), what remained were unknown query
parameters, which the API ignores like most do, and cases meant to go without a token, to
which these tests add one.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

from accounts.credit import credit_top_up
from accounts.tests.factories import UserFactory
from invoices import billing
from plans.models import Plan

schema = schemathesis.pytest.from_fixture("api_schema")

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def api_schema(db):
    # Like Django's test client: keep the test's transaction open across requests.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(db):
    """A customer with credit, a plan, a subscription and invoices; a superuser."""
    customer = UserFactory(phone="+8801516100100")
    admin = UserFactory(phone="+8801917100100", is_staff=True, is_superuser=True)
    plan = Plan.objects.create(name="Bronze", amount=Decimal("500.00"), is_cancellable=True)
    credit_top_up(user_id=customer.pk, amount=Decimal("2000"))
    billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    return {"customer": customer, "admin": admin}


def bearer(user) -> dict[str, str]:
    # Not through the test client: it would reconnect the signals the fixture disconnected.
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]


@schema.parametrize()
@FUZZ
def test_every_operation_as_a_customer(case, world):
    case.call_and_validate(headers=bearer(world["customer"]), checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_every_operation_as_a_superuser(case, world):
    case.call_and_validate(headers=bearer(world["admin"]), checks=CHECKS)
