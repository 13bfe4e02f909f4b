"""
Idempotency keys store the rendered response (bytes and content type) instead of its data as
JSON, so that a replay is byte for byte the first answer (PostgreSQL's jsonb reorders keys).

Existing answers are rendered the way the API renders JSON (DRF's compact, UTF-8 JSONRenderer).
Their keys' first order is lost on PostgreSQL already; from now on, none is.
"""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import migrations, models


def render_stored_bodies(apps, schema_editor):
    IdempotencyKey = apps.get_model("core", "IdempotencyKey")
    answered = IdempotencyKey.objects.filter(response_status__isnull=False)
    for record in answered.iterator():
        text = json.dumps(
            record.response_body,
            cls=DjangoJSONEncoder,
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
        # As DRF's JSONRenderer: these two are valid JSON but not valid JavaScript.
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        record.response_content = text.encode()
        record.response_content_type = "application/json"
        record.save(update_fields=["response_content", "response_content_type"])


def parse_stored_content(apps, schema_editor):
    IdempotencyKey = apps.get_model("core", "IdempotencyKey")
    answered = IdempotencyKey.objects.filter(response_status__isnull=False)
    for record in answered.iterator():
        content = bytes(record.response_content or b"")
        record.response_body = json.loads(content) if content else None
        record.save(update_fields=["response_body"])


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencykey",
            name="response_content",
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="idempotencykey",
            name="response_content_type",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.RunPython(render_stored_bodies, parse_stored_content, elidable=True),
        migrations.RemoveField(
            model_name="idempotencykey",
            name="response_body",
        ),
    ]
