"""PlanSerializer writes its output by hand (``row_representation``, which the plan list uses on
``.values()`` rows): it must stay exactly what DRF's loop over the fields gives."""

from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers

from plans.models import Plan
from plans.serializers import PlanSerializer

pytestmark = pytest.mark.django_db


def drf_loop(plan: Plan) -> dict:
    return dict(serializers.Serializer.to_representation(PlanSerializer(), plan))


def test_plans_render_as_drfs_loop_would():
    listed = Plan.objects.create(name="Bronze", amount=Decimal("500"), is_cancellable=True)
    archived = Plan.objects.create(
        name="Old", amount=Decimal("1200.50"), payment_cycle=7, archived_at=timezone.now()
    )

    for plan in (listed, archived, *Plan.objects.order_by("id")):
        data = PlanSerializer(plan).data
        assert data == drf_loop(plan)
        assert list(data) == list(PlanSerializer().fields)  # keys in the declared order
    assert PlanSerializer(listed).data["amount"] == "500.00"  # as given, not yet read back
    assert (PlanSerializer(archived).data["is_archived"], drf_loop(listed)["is_archived"]) == (
        True,
        False,
    )
