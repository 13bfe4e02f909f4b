import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client

from events.models import EventType
from events.services import event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    browser = Client()
    superuser = get_user_model().objects.create_superuser("+8801700000098", "admin-pw-98")
    browser.force_login(superuser)
    return browser


def test_the_admin_lists_events_and_shows_one_read_only(
    admin_client, django_assert_max_num_queries
):
    customer = get_user_model().objects.create_user("+8801700000097", "customer-pw-97")
    with transaction.atomic():
        events = [
            event_record(
                type=EventType.CREDIT_TOPPED_UP,
                customer_id=customer.pk,
                data={"id": n},
                occurred_at=customer.date_joined,
            )
            for n in range(5)
        ]

    with django_assert_max_num_queries(8):  # not one per row
        listing = admin_client.get("/admin/events/event/", {"type__exact": "credit.topped_up"})
    assert listing.status_code == 200
    assert all(event.public_id in listing.text for event in events)

    detail = admin_client.get(f"/admin/events/event/{events[0].pk}/change/")
    assert detail.status_code == 200
    assert events[0].payload.replace('"', "&quot;") in detail.text
    assert admin_client.get("/admin/events/event/add/").status_code == 403
    assert admin_client.post(f"/admin/events/event/{events[0].pk}/delete/").status_code == 403
