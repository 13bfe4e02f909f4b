"""
Invoice numbers gapless per calendar year: ``INV-2026-000001``. The invoices issued so far get
theirs in issue order (by year of ``issued_at`` in ``TIME_ZONE``, then id), and each year's
counter starts where they end.
"""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations, models

BATCH = 2000


def invoices_number(apps, schema_editor):
    Invoice = apps.get_model("invoices", "Invoice")
    InvoiceNumberSequence = apps.get_model("invoices", "InvoiceNumberSequence")
    zone = ZoneInfo(settings.TIME_ZONE)
    last: dict[int, int] = {}  # year: the last number given
    after = 0
    while True:
        # By id, in batches (keyset): ids were given in issue order.
        batch = list(Invoice.objects.filter(pk__gt=after).order_by("pk").only("issued_at")[:BATCH])
        if not batch:
            break
        for invoice in batch:
            year = invoice.issued_at.astimezone(zone).year
            last[year] = last.get(year, 0) + 1
            invoice.number_year, invoice.number_seq = year, last[year]
            invoice.number = f"INV-{year}-{last[year]:06d}"
        Invoice.objects.bulk_update(batch, ["number", "number_year", "number_seq"])
        after = batch[-1].pk
    InvoiceNumberSequence.objects.bulk_create(
        InvoiceNumberSequence(year=year, last=count) for year, count in last.items()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0004_invoice_plan_and_proration"),
    ]

    operations = [
        migrations.CreateModel(
            name="InvoiceNumberSequence",
            fields=[
                ("year", models.PositiveSmallIntegerField(primary_key=True, serialize=False)),
                (
                    "last",
                    models.PositiveIntegerField(
                        help_text="The last number taken; the next is one more."
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="invoice",
            name="number",
            field=models.CharField(max_length=24, null=True),
        ),
        migrations.AddField(
            model_name="invoice",
            name="number_year",
            field=models.PositiveSmallIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="invoice",
            name="number_seq",
            field=models.PositiveIntegerField(null=True),
        ),
        migrations.RunPython(invoices_number, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="invoice",
            name="number",
            field=models.CharField(
                help_text=(
                    "INV-YYYY-000001…: gapless per year of issued_at (TIME_ZONE), in issue order."
                ),
                max_length=24,
                unique=True,
            ),
        ),
        migrations.AlterField(
            model_name="invoice",
            name="number_year",
            field=models.PositiveSmallIntegerField(),
        ),
        migrations.AlterField(
            model_name="invoice",
            name="number_seq",
            field=models.PositiveIntegerField(),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.UniqueConstraint(
                fields=("number_year", "number_seq"), name="invoices_number_once_per_year"
            ),
        ),
    ]
