from django.db import migrations, models


class Migration(migrations.Migration):
    """The engine's boundary gets its own name; ``next_billing_at`` is now what the customer sees
    (a property: empty while nothing will be billed)."""

    dependencies = [
        ("subscriptions", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(
            model_name="subscription", old_name="next_billing_at", new_name="next_boundary_at"
        ),
        migrations.AlterField(
            model_name="subscription",
            name="next_boundary_at",
            field=models.DateTimeField(
                blank=True,
                help_text="The next boundary billing processes: the next period's start, or the "
                "end; empty once over.",
                null=True,
            ),
        ),
        # The index follows the renamed column in the database; only the state needs telling.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="subscription", name="subscriptions_due"),
                migrations.AddIndex(
                    model_name="subscription",
                    index=models.Index(fields=["next_boundary_at"], name="subscriptions_due"),
                ),
            ]
        ),
    ]
