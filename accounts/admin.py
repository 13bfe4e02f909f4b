from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core.exceptions import ApplicationError

from .credit import credit_adjust
from .models import MAX_BALANCE, CreditTransaction, OneTimePassword, PhoneNumber, User
from .services import credit_recipient_check

LEDGER_LINES_SHOWN = 20


class UserCreationForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("phone", "name")


class CustomerChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    extra = 0
    fields = ("phone", "is_primary", "is_verified", "verified_at", "created_at")
    readonly_fields = ("is_primary", "verified_at", "created_at")


class CreditTransactionInline(admin.TabularInline):
    """The customer's latest ledger lines, read-only (the whole ledger: Credit transactions)."""

    model = CreditTransaction
    fk_name = "user"
    extra = 0
    can_delete = False
    verbose_name_plural = f"Latest {LEDGER_LINES_SHOWN} credit transactions"
    fields = ("created_at", "kind", "amount", "balance_after", "invoice_id", "note", "created_by")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request).select_related("created_by")
        latest = queryset.order_by("-created_at", "-id").values_list("pk", flat=True)
        return queryset.filter(pk__in=list(latest[:LEDGER_LINES_SHOWN]))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    add_form = UserCreationForm
    form = CustomerChangeForm
    inlines = [PhoneNumberInline, CreditTransactionInline]
    list_display = ("phone", "name", "credit", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff", "is_superuser", "language", "date_joined")
    search_fields = ("phone", "name", "phones__phone")
    ordering = ("-date_joined",)
    readonly_fields = ("credit", "adjust_credit", "date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("phone", "name", "password")}),
        ("Credit", {"fields": ("credit", "adjust_credit")}),
        ("Language and SMS", {"fields": ("language", "notify_reminders", "notify_receipts")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("phone", "name", "password1", "password2")}),
    )

    @admin.display(description="Adjust credit")
    def adjust_credit(self, obj: User) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:accounts_credittransaction_add") + f"?user={obj.pk}"
        return format_html('<a class="button" href="{}">Adjust credit…</a>', url)

    def get_inlines(self, request: HttpRequest, obj: User | None = None) -> list:
        # On the add page the primary phone row is created from the form's phone.
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        # The primary phone changes through the phones (make-primary), never by hand.
        return (*readonly, "phone") if obj is not None else readonly

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            # An operator vouches for the number they typed in.
            PhoneNumber.objects.create(
                user=obj,
                phone=obj.phone,
                is_primary=True,
                is_verified=True,
                verified_at=timezone.now(),
            )


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ("phone", "user", "is_primary", "is_verified", "verified_at", "created_at")
    list_filter = ("is_verified", "is_primary")
    search_fields = ("phone", "user__phone", "user__name")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("verified_at", "created_at")


@admin.register(OneTimePassword)
class OneTimePasswordAdmin(admin.ModelAdmin):
    """Read-only view of live codes (only their hashes are stored) to help support staff."""

    list_display = ("phone", "purpose", "user", "attempts", "created_at", "expires_at")
    list_filter = ("purpose",)
    search_fields = ("phone",)
    list_select_related = ("user",)
    exclude = ("code_hash",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CreditAdjustmentForm(forms.ModelForm):
    """The admin's "add" form for the ledger: a staff adjustment through the credit service."""

    amount = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="Positive adds credit, negative removes it (never below zero).",
    )
    note = forms.CharField(max_length=255, help_text="Why: shown in the ledger.")

    # The staff member making the adjustment (set per request by CreditTransactionAdmin).
    actor: User | None = None

    class Meta:
        model = CreditTransaction
        fields = ("user", "amount", "note")

    def clean_amount(self) -> Decimal:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment can't be zero.")
        return amount

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user, amount = cleaned.get("user"), cleaned.get("amount")
        if user is not None and self.actor is not None:
            # The same rule as the API's top-up: no credit for a pending or deactivated account.
            try:
                credit_recipient_check(actor=self.actor, customer=user)
            except ApplicationError as exc:
                self.add_error("user", exc.message)
                return cleaned
        if user is not None and amount is not None:
            # The credit service checks again under a row lock; this gives a friendly message.
            if user.credit + amount < 0:
                self.add_error("amount", f"The customer's credit is only {user.credit}.")
            elif user.credit + amount > MAX_BALANCE:
                self.add_error("amount", f"The balance can't exceed {MAX_BALANCE}.")
        return cleaned


@admin.register(CreditTransaction)
class CreditTransactionAdmin(admin.ModelAdmin):
    """The ledger is append-only: lines are never edited; "add" makes a staff adjustment."""

    form = CreditAdjustmentForm
    list_display = ("created_at", "user", "kind", "amount", "balance_after", "invoice_id")
    list_filter = ("kind", "created_at")
    search_fields = ("user__phone", "user__name", "note")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("user", "amount", "note")
        return (
            "user", "kind", "amount", "balance_after", "invoice_id", "note", "created_by",
            "created_at",
        )  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.get_fields(request, obj) if obj is not None else ()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CreditTransaction, form: Any, change: bool):
        entry = credit_adjust(
            user_id=obj.user_id,
            amount=form.cleaned_data["amount"],
            by=request.user,
            note=form.cleaned_data["note"],
        )
        # The admin goes on with the saved line (its log entry, its redirect).
        obj.pk = entry.pk
        obj.refresh_from_db()
