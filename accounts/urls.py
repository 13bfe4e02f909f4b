from core.urls import route

from . import apis

app_name = "accounts"

urlpatterns = [
    *route("register/", apis.RegisterApi.as_view(), name="register"),
    *route("verify-otp/", apis.VerifyOtpApi.as_view(), name="verify-otp"),
    *route("resend-otp/", apis.ResendOtpApi.as_view(), name="resend-otp"),
    *route("token/", apis.TokenApi.as_view(), name="token"),
    *route("refresh/", apis.RefreshApi.as_view(), name="refresh"),
    *route("logout/", apis.LogoutApi.as_view(), name="logout"),
    *route("me/", apis.MeApi.as_view(), name="me"),
    *route("add-phone-no/", apis.AddPhoneApi.as_view(), name="add-phone"),
    *route("make-primary-phone/", apis.MakePrimaryPhoneApi.as_view(), name="make-primary-phone"),
    *route("password-reset/", apis.PasswordResetApi.as_view(), name="password-reset"),
    *route(
        "password-reset/confirm/",
        apis.PasswordResetConfirmApi.as_view(),
        name="password-reset-confirm",
    ),
]
