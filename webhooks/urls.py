from django.urls import register_converter

from core.urls import route

from . import apis


class EventIdConverter:
    """An event's public id: ``evt_`` and 32 lowercase hex digits."""

    regex = "evt_[0-9a-f]{32}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(EventIdConverter, "evt")

app_name = "webhooks"

urlpatterns = [
    *route("webhooks/endpoints/", apis.WebhookEndpointListApi.as_view(), name="endpoints"),
    *route(
        "webhooks/endpoints/<id:endpoint_id>/",
        apis.WebhookEndpointDetailApi.as_view(),
        name="endpoint",
    ),
    *route(
        "webhooks/endpoints/<id:endpoint_id>/rotate-secret/",
        apis.WebhookEndpointRotateSecretApi.as_view(),
        name="rotate-secret",
    ),
    *route("webhooks/events/", apis.EventListApi.as_view(), name="events"),
    *route("webhooks/events/<evt:event_id>/", apis.EventDetailApi.as_view(), name="event"),
    *route(
        "webhooks/events/<evt:event_id>/redeliver/",
        apis.EventRedeliverApi.as_view(),
        name="redeliver",
    ),
]
