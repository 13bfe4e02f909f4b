from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.http import HttpRequest
from django.utils import timezone

from .models import OneTimePassword, PhoneNumber, User


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


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    add_form = UserCreationForm
    form = CustomerChangeForm
    inlines = [PhoneNumberInline]
    list_display = ("phone", "name", "credit", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("phone", "name", "phones__phone")
    ordering = ("-date_joined",)
    readonly_fields = ("credit", "date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("phone", "name", "password")}),
        ("Credit", {"fields": ("credit",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("phone", "name", "password1", "password2")}),
    )

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
