from datetime import timedelta

import pytest
from django.utils import timezone

from invoices import jobs
from webhooks.models import WebhookAttempt, WebhookDelivery
from webhooks.relay import WebhookRelay

from .conftest import record

# The job closes its database connection like the scheduler thread it runs in.
pytestmark = pytest.mark.django_db(transaction=True)


def test_the_daily_prune_forgets_old_attempts_of_finished_deliveries_only(
    endpoint, receiver, customer
):
    receiver.respond = lambda request: (500, b"down", {})
    old = timezone.now() - timedelta(days=31)
    for _ in range(2):
        record(customer, "credit.topped_up", amount="1.00")
    WebhookRelay(timeout_seconds=2).run_once()
    finished, pending = WebhookDelivery.objects.order_by("id")
    finished.status = WebhookDelivery.Status.FAILED
    finished.save(update_fields=["status"])
    WebhookAttempt.objects.update(attempted_at=old)

    jobs.prune_history()

    assert not WebhookAttempt.objects.filter(delivery=finished).exists()
    assert WebhookAttempt.objects.filter(delivery=pending).count() == 1  # still being retried
    assert WebhookDelivery.objects.count() == 2  # who got which event stays
