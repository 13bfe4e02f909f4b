from django.db.models import QuerySet

from .models import Event


def event_list(*, type: str | None = None, customer_id: int | None = None) -> QuerySet[Event]:
    """Events, newest first, optionally of one type and one customer."""
    events = Event.objects.order_by("-id")
    if type:
        events = events.filter(type=type)
    if customer_id is not None:
        events = events.filter(customer_id=customer_id)
    return events
