from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import MAX_MONEY
from core.representation import json_moment, json_money

from .models import CreditTransaction, Language, PhoneNumber, User
from .otp import OTP_LENGTH
from .phones import normalize_phone


@extend_schema_field(OpenApiTypes.STR)
class PhoneField(serializers.CharField):
    """A phone in any usual notation, read as E.164 (national numbers in the default region)."""

    default_error_messages = {"invalid_phone": _("Enter a valid phone number.")}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid_phone")
        value = super().to_internal_value(data)
        phone = normalize_phone(value)
        if phone is None:
            self.fail("invalid_phone")
        return phone


class OtpField(serializers.RegexField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            rf"^\d{{{OTP_LENGTH}}}$",
            error_messages={
                "invalid": format_lazy(_("Enter the {length}-digit code."), length=OTP_LENGTH)
            },
            **kwargs,
        )


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()


class RegisterInputSerializer(serializers.Serializer):
    phone = PhoneField()
    name = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = User(phone=attrs["phone"], name=attrs["name"])
        try:
            validate_password(attrs["password"], candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": exc.messages}) from None
        return attrs


class PhoneInputSerializer(serializers.Serializer):
    phone = PhoneField()


class VerifyOtpInputSerializer(serializers.Serializer):
    phone = PhoneField()
    otp = OtpField()


class TokenInputSerializer(serializers.Serializer):
    phone = PhoneField()
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class TokenPairSerializer(serializers.Serializer):
    refresh = serializers.CharField()
    access = serializers.CharField()


class TokenOutputSerializer(serializers.Serializer):
    token = TokenPairSerializer()


class PasswordResetConfirmInputSerializer(serializers.Serializer):
    phone = PhoneField()
    otp = OtpField()
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class PhoneOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PhoneNumber
        fields = ["phone", "is_primary", "is_verified"]


class MeOutputSerializer(serializers.ModelSerializer):
    phones = PhoneOutputSerializer(many=True)

    class Meta:
        model = User
        fields = [
            "id",
            "name",
            "phone",
            "phones",
            "credit",
            "date_joined",
            "language",
            "notify_reminders",
            "notify_receipts",
        ]


class MeUpdateInputSerializer(serializers.Serializer):
    """``PATCH auth/me/``: any of these; the others stay as they are."""

    name = serializers.CharField(max_length=150, required=False)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    notify_reminders = serializers.BooleanField(required=False)
    notify_receipts = serializers.BooleanField(required=False)


MAX_AMOUNT = MAX_MONEY


def _money_field(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=MAX_AMOUNT,
        **kwargs,
    )


class TopUpInputSerializer(serializers.Serializer):
    amount = _money_field(required=False, help_text="Amount to add, > 0, two decimals at most.")
    credit = _money_field(required=False, help_text="Alias of amount (seed 003).")
    customer = serializers.CharField(
        required=False, max_length=64, help_text="Staff only: the customer's id or phone."
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict) and isinstance(data.get("customer"), int):
            data = {**data, "customer": str(data["customer"])}
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        amount, alias = attrs.pop("amount", None), attrs.pop("credit", None)
        if amount is None and alias is None:
            raise serializers.ValidationError({"amount": [gettext("This field is required.")]})
        if amount is not None and alias is not None and amount != alias:
            raise serializers.ValidationError(
                {
                    "amount": [
                        gettext("Send amount or credit (its alias), not two different values.")
                    ]
                }
            )
        attrs["amount"] = amount if amount is not None else alias
        return attrs


class BalanceSerializer(serializers.Serializer):
    balance = serializers.DecimalField(max_digits=12, decimal_places=2)


class TopUpOutputSerializer(BalanceSerializer):
    message = serializers.CharField()


class CreditTransactionSerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditTransaction
        fields = ["id", "amount", "kind", "balance_after", "invoice_id", "created_at"]

    @staticmethod
    def entry_representation(entry: CreditTransaction, zone: tzinfo) -> dict[str, Any]:
        """The fields' output, written out: every move that records an event shapes its line
        with it, and a ModelSerializer builds its fields on every use.
        ``accounts/tests/test_credit_transaction_serializer.py`` checks it equals DRF's loop."""
        return {
            "id": entry.id,
            "amount": json_money(entry.amount),
            "kind": str(entry.kind),
            "balance_after": json_money(entry.balance_after),
            "invoice_id": entry.invoice_id,
            "created_at": json_moment(entry.created_at, zone),
        }

    def to_representation(self, instance: CreditTransaction) -> dict[str, Any]:
        return self.entry_representation(instance, timezone.get_current_timezone())
