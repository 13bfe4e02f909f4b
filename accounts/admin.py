from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin import (
    BusinessMedia,
    ReadOnlyInline,
    customer_column,
    date_column,
    moment_column,
    money,
    money_column,
    status_column,
)
from core.exceptions import ApplicationError
from invoices.admin import SUBSCRIPTION_STATUSES
from invoices.models import Invoice
from subscriptions.models import Subscription

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
    fields = ("phone", "is_primary", "is_verified", "moment_verified_at", "moment_created_at")
    readonly_fields = ("is_primary", "moment_verified_at", "moment_created_at")

    moment_verified_at = moment_column("verified_at", "verified")
    moment_created_at = moment_column("created_at", "added")


def _with_invoice_numbers(queryset: QuerySet[CreditTransaction]) -> QuerySet[CreditTransaction]:
    """Each ledger line with the number of the invoice it paid (``invoice_id`` is no key)."""
    number = Invoice.objects.filter(pk=OuterRef("invoice_id")).values("number")[:1]
    return queryset.annotate(invoice_number_=Subquery(number))


def _invoice_link(entry: CreditTransaction) -> str:
    if entry.invoice_id is None:
        return ""
    url = reverse("admin:invoices_invoice_change", args=[entry.invoice_id])
    return format_html('<a href="{}">{}</a>', url, entry.invoice_number_ or entry.invoice_id)


class CreditTransactionInline(admin.TabularInline):
    """The customer's latest ledger lines, read-only (the whole ledger: Credit transactions)."""

    model = CreditTransaction
    fk_name = "user"
    extra = 0
    can_delete = False
    verbose_name_plural = f"Latest {LEDGER_LINES_SHOWN} credit transactions"
    classes = ["history-inline"]
    fields = ("moment_created_at", "kind", "money_amount", "money_balance_after",
              "invoice_number", "note", "staff")  # fmt: skip
    readonly_fields = fields

    moment_created_at = moment_column("created_at", "when")
    money_amount = money_column("amount", "amount")
    money_balance_after = money_column("balance_after", "balance after")

    def get_queryset(self, request: HttpRequest):
        # Each row is titled by its str(), which names the customer.
        queryset = super().get_queryset(request).select_related("user", "created_by")
        latest = queryset.order_by("-created_at", "-id").values_list("pk", flat=True)
        return _with_invoice_numbers(queryset.filter(pk__in=list(latest[:LEDGER_LINES_SHOWN])))

    @admin.display(description="invoice")
    def invoice_number(self, entry: CreditTransaction) -> str:
        return _invoice_link(entry)

    @admin.display(description="by")
    def staff(self, entry: CreditTransaction) -> str:
        return entry.created_by.name if entry.created_by else ""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SubscriptionInline(ReadOnlyInline):
    """The customer's subscriptions, newest first; each opens on its own page."""

    model = Subscription
    fields = ("subscription", "plan_name", "money_plan_amount", "status_pill", "moment_start_at",
              "moment_next_boundary_at", "moment_end_at")  # fmt: skip
    ordering = ("-created_at", "-id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscription]:
        # Each row is titled by its str(), which names the customer.
        return super().get_queryset(request).select_related("user")

    @admin.display(description="#")
    def subscription(self, subscription: Subscription) -> str:
        url = reverse("admin:subscriptions_subscription_change", args=[subscription.pk])
        return format_html('<a href="{}">#{}</a>', url, subscription.pk)

    money_plan_amount = money_column("plan_amount", "amount")
    status_pill = status_column("status", "status", SUBSCRIPTION_STATUSES)
    moment_start_at = date_column("start_at", "bought")
    moment_next_boundary_at = moment_column("next_boundary_at", "next boundary")
    moment_end_at = date_column("end_at", "term ends")


# Who may do what: staff who are not superusers need permissions; customers never use any.
PERMISSIONS = ("is_active", "is_staff", "is_superuser")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    add_form = UserCreationForm
    form = CustomerChangeForm
    inlines = [PhoneNumberInline, SubscriptionInline, CreditTransactionInline]
    list_display = ("phone", "name", "money_credit", "is_active", "is_staff", "moment_date_joined")
    list_display_links = ("phone", "name")
    list_filter = ("is_active", "is_staff", "is_superuser", "language", "date_joined")
    search_fields = ("phone", "name", "phones__phone")
    ordering = ("-date_joined",)
    readonly_fields = ("credit_balance", "adjust_credit", "date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("phone", "name", "password")}),
        ("Credit", {"fields": ("credit_balance", "adjust_credit")}),
        ("Language and SMS", {"fields": ("language", "notify_reminders", "notify_receipts")}),
        ("Permissions", {"fields": PERMISSIONS}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    Media = BusinessMedia

    money_credit = money_column("credit", "credit")
    moment_date_joined = date_column("date_joined", "joined")

    @admin.display(description="credit")
    def credit_balance(self, obj: User) -> str:
        return money(obj.credit)

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        """
        Groups and per-user permissions only where they mean something: groups once any group
        exists; a user's own permissions for staff who are not superusers (they need them to
        see anything) or for anyone who has some. Customers and superusers never need them.
        """
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        extra: tuple[str, ...] = ()
        if Group.objects.exists():
            extra += ("groups",)
        if (obj.is_staff and not obj.is_superuser) or obj.user_permissions.exists():
            extra += ("user_permissions",)
        return tuple(
            (name, {**options, "fields": (*options["fields"], *extra)})
            if name == "Permissions"
            else (name, options)
            for name, options in fieldsets
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
    list_display = (
        "phone", "user", "is_primary", "is_verified", "moment_verified_at", "moment_created_at",
    )  # fmt: skip
    list_filter = ("is_verified", "is_primary")
    search_fields = ("phone", "user__phone", "user__name")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("verified_at", "created_at")
    Media = BusinessMedia

    moment_verified_at = moment_column("verified_at", "verified")
    moment_created_at = moment_column("created_at", "added")


@admin.register(OneTimePassword)
class OneTimePasswordAdmin(admin.ModelAdmin):
    """Read-only view of live codes (only their hashes are stored) to help support staff."""

    list_display = (
        "phone", "purpose", "user", "attempts", "moment_created_at", "moment_expires_at",
    )  # fmt: skip
    list_filter = ("purpose",)
    search_fields = ("phone",)
    list_select_related = ("user",)
    exclude = ("code_hash",)
    Media = BusinessMedia

    moment_created_at = moment_column("created_at", "sent")
    moment_expires_at = moment_column("expires_at", "expires")

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
                self.add_error(
                    "amount",
                    f"The customer's credit is only {money(user.credit)}: remove at most that.",
                )
            elif user.credit + amount > MAX_BALANCE:
                self.add_error(
                    "amount",
                    f"A balance can't exceed {money(MAX_BALANCE)}; this customer has"
                    f" {money(user.credit)}, so add at most {money(MAX_BALANCE - user.credit)}.",
                )
        return cleaned


@admin.register(CreditTransaction)
class CreditTransactionAdmin(admin.ModelAdmin):
    """The ledger is append-only: lines are never edited; "add" makes a staff adjustment."""

    form = CreditAdjustmentForm
    list_display = ("moment_created_at", "customer_user", "kind", "money_amount",
                    "money_balance_after", "invoice_number", "staff")  # fmt: skip
    list_filter = ("kind", "created_at")
    search_fields = ("user__phone", "user__name", "note")
    list_select_related = ("user", "created_by")
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    Media = BusinessMedia

    customer_user = customer_column("user")
    moment_created_at = moment_column("created_at", "when")
    money_amount = money_column("amount", "amount")
    money_balance_after = money_column("balance_after", "balance after")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CreditTransaction]:
        queryset = super().get_queryset(request).select_related("user", "created_by")
        return _with_invoice_numbers(queryset)

    @admin.display(description="invoice", ordering="invoice_id")
    def invoice_number(self, entry: CreditTransaction) -> str:
        return _invoice_link(entry)

    @admin.display(description="by", ordering="created_by__name")
    def staff(self, entry: CreditTransaction) -> str:
        return entry.created_by.name if entry.created_by else ""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("user", "amount", "note")
        return (
            "user", "kind", "money_amount", "money_balance_after", "invoice_number", "note",
            "created_by", "moment_created_at",
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


# --- groups: shown only once one exists -----------------------------------------------------------

admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin):
    """
    Operators are superusers or staff given permissions one by one; groups are for a larger
    team. Until the first group exists the section stays off the admin's menus (its pages
    still answer: /admin/auth/group/add/ makes the first one).
    """

    def has_module_permission(self, request: HttpRequest) -> bool:
        if not super().has_module_permission(request):
            return False
        # Asked for each menu drawn: once per request.
        if not hasattr(request, "_groups_exist"):
            request._groups_exist = Group.objects.exists()
        return request._groups_exist
