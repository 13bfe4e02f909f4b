"""The primary phone is unique by a named constraint, so code can tell its conflict apart."""

import phonenumber_field.modelfields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_codes_per_account_and_purpose"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="phone",
            field=phonenumber_field.modelfields.PhoneNumberField(
                help_text="Primary phone, E.164.", max_length=128, region=None
            ),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                fields=("phone",), name="accounts_user_phone_unique"
            ),
        ),
    ]
