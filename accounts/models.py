from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

from core.money import MAX_MONEY

MAX_BALANCE = MAX_MONEY


class Language(models.TextChoices):
    """The languages an account's SMS and API messages come in (``settings.LANGUAGES``)."""

    ENGLISH = "en", "English"
    BENGALI = "bn", "বাংলা"


def default_language() -> str:
    """A new account's language: ``DEFAULT_LANGUAGE`` (Bengali unless configured)."""
    return settings.DEFAULT_LANGUAGE


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    @transaction.atomic
    def create_user(
        self,
        phone: str,
        password: str | None = None,
        *,
        phone_verified: bool = False,
        **extra_fields: Any,
    ) -> User:
        """A user and its primary phone row; ``createsuperuser`` and the admin come through here."""
        if not phone:
            raise ValueError("A phone number is required.")
        user = self.model(phone=phone, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        PhoneNumber.objects.using(self._db).create(
            user=user,
            phone=user.phone,
            is_primary=True,
            is_verified=phone_verified,
            verified_at=timezone.now() if phone_verified else None,
        )
        return user

    def create_superuser(
        self, phone: str, password: str | None = None, **extra_fields: Any
    ) -> User:
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not extra_fields["is_staff"] or not extra_fields["is_superuser"]:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        # The operator typed the number in: it counts as verified so they can log in at once.
        return self.create_user(phone, password, phone_verified=True, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A customer or an operator. Logs in with any verified phone; ``phone`` is the primary."""

    phone = PhoneNumberField(help_text="Primary phone, E.164.")
    name = models.CharField(max_length=150)
    credit = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0.00"), help_text="Prepaid balance."
    )
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    language = models.CharField(
        max_length=8,
        choices=Language.choices,
        default=default_language,
        help_text="The language of the customer's SMS and of the API's messages.",
    )
    # Reminders and receipts may be turned off; suspension notices and codes always go.
    notify_reminders = models.BooleanField(
        default=True, help_text="Text renewal reminders before the credit runs short."
    )
    notify_receipts = models.BooleanField(
        default=True, help_text="Text a receipt with the new balance after each top-up."
    )

    objects = UserManager()

    USERNAME_FIELD = "phone"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        verbose_name = "customer"
        constraints = [
            # Named, so that a registration racing another one can tell this conflict apart.
            models.UniqueConstraint(fields=["phone"], name="accounts_user_phone_unique"),
            models.CheckConstraint(
                condition=Q(credit__gte=0), name="accounts_user_credit_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(credit__lte=MAX_BALANCE), name="accounts_user_credit_within_limit"
            ),
        ]

    def __str__(self) -> str:
        # An operator knows a customer by name and phone: "Ikram Khan · +8801712345678".
        return f"{self.name} · {self.phone}" if self.name else str(self.phone)

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.name


class PhoneNumber(models.Model):
    """One of an account's phones (at most five). A number is verified on one account at most."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="phones")
    phone = PhoneNumberField()
    is_primary = models.BooleanField(default=False)
    is_verified = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_primary", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "phone"], name="accounts_phone_once_per_user"),
            models.UniqueConstraint(
                fields=["phone"],
                condition=Q(is_verified=True),
                name="accounts_phone_verified_once",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(is_primary=True),
                name="accounts_phone_one_primary_per_user",
            ),
        ]
        indexes = [models.Index(fields=["phone"], name="accounts_phone_lookup")]

    def __str__(self) -> str:
        return str(self.phone)


class OneTimePassword(models.Model):
    """
    The live code of one account for one phone and one purpose: only its keyed hash is kept, and
    it is deleted once used. Codes of different accounts for the same phone live side by side.
    """

    class Purpose(models.TextChoices):
        REGISTRATION = "registration", "Register an account"
        ADD_PHONE = "add_phone", "Add a phone to an account"
        PASSWORD_RESET = "password_reset", "Reset the password"

    phone = PhoneNumberField()
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="one_time_passwords")
    code_hash = models.CharField(max_length=128)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "one-time password"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "phone", "purpose"], name="accounts_otp_one_per_account_purpose"
            ),
            # Only the pending account whose primary phone it is registers a number.
            models.UniqueConstraint(
                fields=["phone"],
                condition=Q(purpose="registration"),
                name="accounts_otp_one_registration_per_phone",
            ),
        ]
        indexes = [models.Index(fields=["phone", "purpose"], name="accounts_otp_lookup")]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} for {self.phone}"


class CreditTransaction(models.Model):
    """
    One line of a customer's append-only credit ledger. The lines add up to ``User.credit``;
    only ``accounts.credit`` writes them, in the same transaction as the balance.
    """

    class Kind(models.TextChoices):
        TOP_UP = "top_up", "Top-up"
        INVOICE_PAYMENT = "invoice_payment", "Invoice payment"
        ADJUSTMENT = "adjustment", "Adjustment"
        # A change of plan made at once gives back the unused part of the paid period.
        PRORATION_CREDIT = "proration_credit", "Proration credit"

    # No index of its own: accounts_ledger_recent_by_id starts with it (one index less to write).
    user = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="credit_transactions", db_index=False
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2, help_text="Signed change.")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    balance_after = models.DecimalField(max_digits=12, decimal_places=2)
    invoice_id = models.BigIntegerField(
        null=True, blank=True, help_text="The invoice this payment settled."
    )
    note = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member who made a top-up or adjustment for the customer.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Ids are drawn under the customer's lock: their order is the order money moved.
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "-id"], name="accounts_ledger_recent_by_id")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="accounts_ledger_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="accounts_ledger_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(kind="top_up") | Q(amount__gt=0),
                name="accounts_ledger_top_up_positive",
            ),
            models.CheckConstraint(
                condition=~Q(kind="invoice_payment") | Q(amount__lt=0),
                name="accounts_ledger_payment_negative",
            ),
        ]

    def __str__(self) -> str:
        # "Top-up 500.00 · Ikram Khan" (reads the customer: list pages select_related it).
        return f"{self.get_kind_display()} {self.amount} · {self.user.name}"
