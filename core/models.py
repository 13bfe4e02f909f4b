from django.conf import settings
from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """The first response to a money-moving request sent with an ``Idempotency-Key`` header."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys"
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of the method, the route and the JSON body."
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The bytes the client received, not the data: a replay must be byte for byte the same
    # (PostgreSQL's jsonb would reorder the keys).
    response_content = models.BinaryField(null=True, blank=True)
    response_content_type = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="core_idempotency_key_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id})"
