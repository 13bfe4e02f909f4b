from rest_framework import serializers

from .models import Notice


class NoticeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notice
        fields = [
            "id",
            "kind",
            "subscription_id",
            "period_index",
            "language",
            "text",
            "status",
            "attempts",
            "sent_at",
            "created_at",
        ]
        read_only_fields = fields
