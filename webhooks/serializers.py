import json
from typing import Any

from rest_framework import serializers

from events.models import Event, EventType

from .models import WebhookEndpoint
from .sending import url_refusal


class EventTypesField(serializers.ListField):
    """A list of event types whose errors read as one list of messages (the error shape's
    ``errors`` maps a field to a list of strings, not to a dict by position)."""

    def to_internal_value(self, data: Any) -> list[str]:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            if not isinstance(error.detail, dict):
                raise
            raise serializers.ValidationError(
                [
                    f"Item {index}: {message}"
                    for index, messages in error.detail.items()
                    for message in messages
                ]
            ) from None


class WebhookEndpointSerializer(serializers.ModelSerializer):
    url = serializers.URLField(max_length=2000, help_text="http or https, on a public address.")
    events = EventTypesField(
        child=serializers.ChoiceField(choices=EventType.choices),
        required=False,
        max_length=len(EventType.choices),
        help_text="Event types to receive; empty or left out: every type.",
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "events",
            "description",
            "is_active",
            "secret",
            "created_at",
            "failing_since",
            "disabled_at",
            "disabled_reason",
        ]
        read_only_fields = [
            "id",
            "secret",
            "created_at",
            "failing_since",
            "disabled_at",
            "disabled_reason",
        ]

    def validate_url(self, value: str) -> str:
        refusal = url_refusal(value)
        if refusal:
            raise serializers.ValidationError(refusal)
        return value


class EventCustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    phone = serializers.CharField()


class EventSerializer(serializers.Serializer):
    """An event exactly as receivers get it: its stored payload, never rendered again."""

    id = serializers.CharField(help_text='"evt_" + 32 hex digits; the deliveries\' webhook-id.')
    type = serializers.ChoiceField(choices=EventType.choices)
    occurred_at = serializers.DateTimeField(help_text="Business time.")
    created_at = serializers.DateTimeField()
    customer = EventCustomerSerializer()
    sequence = serializers.IntegerField(help_text="1, 2, 3… per customer.")
    data = serializers.DictField(help_text="The object as the API shows it.")

    def to_representation(self, instance: Event) -> dict[str, Any]:
        return json.loads(instance.payload)


class RedeliveryResultSerializer(serializers.Serializer):
    message = serializers.CharField()
    deliveries = serializers.IntegerField(help_text="Active endpoints it is sent to again.")
