"""
A code belongs to one account, one phone and one purpose (registration, adding a phone, password
reset): it is unique on those three, no longer on (phone, purpose). Live codes are dropped: they
last minutes, and their hashes do not cover the account, so none of them would match any more.
"""

from django.db import migrations, models


def drop_live_codes(apps, schema_editor):
    apps.get_model("accounts", "OneTimePassword").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_credit_ledger"),
    ]

    operations = [
        migrations.RunPython(drop_live_codes, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="onetimepassword",
            name="accounts_otp_one_per_purpose",
        ),
        migrations.AlterField(
            model_name="onetimepassword",
            name="purpose",
            field=models.CharField(
                choices=[
                    ("registration", "Register an account"),
                    ("add_phone", "Add a phone to an account"),
                    ("password_reset", "Reset the password"),
                ],
                max_length=32,
            ),
        ),
        migrations.AddConstraint(
            model_name="onetimepassword",
            constraint=models.UniqueConstraint(
                fields=("user", "phone", "purpose"), name="accounts_otp_one_per_account_purpose"
            ),
        ),
        migrations.AddConstraint(
            model_name="onetimepassword",
            constraint=models.UniqueConstraint(
                condition=models.Q(("purpose", "registration")),
                fields=("phone",),
                name="accounts_otp_one_registration_per_phone",
            ),
        ),
        migrations.AddIndex(
            model_name="onetimepassword",
            index=models.Index(fields=["phone", "purpose"], name="accounts_otp_lookup"),
        ),
    ]
