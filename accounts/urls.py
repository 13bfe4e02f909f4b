from core.urls import route

from . import apis

app_name = "accounts"

urlpatterns = [
    *route("auth/register/", apis.RegisterApi.as_view(), name="register"),
    *route("auth/verify-otp/", apis.VerifyOtpApi.as_view(), name="verify-otp"),
    *route("auth/resend-otp/", apis.ResendOtpApi.as_view(), name="resend-otp"),
    *route("auth/token/", apis.TokenApi.as_view(), name="token"),
    *route("auth/refresh/", apis.RefreshApi.as_view(), name="refresh"),
    *route("auth/logout/", apis.LogoutApi.as_view(), name="logout"),
    *route("auth/me/", apis.MeApi.as_view(), name="me"),
    *route("auth/add-phone-no/", apis.AddPhoneApi.as_view(), name="add-phone"),
    *route(
        "auth/make-primary-phone/", apis.MakePrimaryPhoneApi.as_view(), name="make-primary-phone"
    ),
    *route("auth/password-reset/", apis.PasswordResetApi.as_view(), name="password-reset"),
    *route(
        "auth/password-reset/confirm/",
        apis.PasswordResetConfirmApi.as_view(),
        name="password-reset-confirm",
    ),
    *route("credit/", apis.CreditApi.as_view(), name="credit"),
    *route("credit/transactions/", apis.CreditTransactionListApi.as_view(), name="credit-ledger"),
    *route("credit/top-up/", apis.TopUpApi.as_view(), name="credit-top-up"),
]
