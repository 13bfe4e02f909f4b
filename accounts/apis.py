"""HTTP endpoints of the accounts part of the contract: one small class per operation."""

from __future__ import annotations

from django.utils import translation
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.i18n import language_activate_for, language_supported
from core.idempotency import IDEMPOTENCY_KEY, idempotent

from . import services
from .credit import credit_top_up
from .selectors import credit_balance, credit_transaction_list, user_get_profile
from .serializers import (
    BalanceSerializer,
    CreditTransactionSerializer,
    MeOutputSerializer,
    MessageSerializer,
    MeUpdateInputSerializer,
    PasswordResetConfirmInputSerializer,
    PhoneInputSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    TokenInputSerializer,
    TokenOutputSerializer,
    TokenPairSerializer,
    TopUpInputSerializer,
    TopUpOutputSerializer,
    VerifyOtpInputSerializer,
)
from .throttles import LOGIN_THROTTLES, OTP_CHECK_THROTTLES, OTP_SEND_THROTTLES


def _message(text: str, status_code: int = status.HTTP_200_OK) -> Response:
    return Response({"message": text}, status=status_code)


class PublicApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class RegisterApi(PublicApi):
    throttle_classes = OTP_SEND_THROTTLES
    error_statuses = (409,)

    @extend_schema(
        tags=["auth"],
        request=RegisterInputSerializer,
        responses={201: MessageSerializer},
        summary="Register with a phone; a registration code is texted to it",
        description=(
            "Creates an unverified account and texts the phone a code for registration. "
            "`400 phone_taken` if the number is verified on an account. `409 "
            "registration_pending` while another registration of the number waits with a live "
            "code (its owner can use `resend-otp`); once that code has expired, registering "
            "again replaces the pending account."
        ),
    )
    def post(self, request: Request) -> Response:
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The account speaks the language this request was answered in (Accept-Language among
        # en and bn, else DEFAULT_LANGUAGE) until it chooses another with PATCH auth/me/.
        services.user_register(
            **data.validated_data, language=language_supported(translation.get_language())
        )
        return _message("Registration Successful", status.HTTP_201_CREATED)


class VerifyOtpApi(APIView):
    """Anonymous: completes a registration. With a bearer token: a phone the account added."""

    permission_classes = [AllowAny]
    throttle_classes = OTP_CHECK_THROTTLES
    error_statuses = (401,)

    @extend_schema(
        tags=["auth"],
        request=VerifyOtpInputSerializer,
        responses={200: MessageSerializer},
        summary="Verify a phone with the texted code",
        description=(
            "Without `Authorization`: completes the pending registration of `phone` with its "
            "registration code; a code texted to add a number to an account never works here. "
            "With the bearer token of the account that added `phone` (`add-phone-no/`): "
            "completes that phone with its add-phone code; no other account can use that code. "
            "A bad or expired token answers 401, never falls back to a registration."
        ),
    )
    def post(self, request: Request) -> Response:
        data = VerifyOtpInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        phone, code = data.validated_data["phone"], data.validated_data["otp"]
        if request.user.is_authenticated:
            services.phone_add_verify(user=request.user, phone=phone, code=code)
        else:
            services.registration_verify(phone=phone, code=code)
        return _message("Verification Successful")


class ResendOtpApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = OTP_SEND_THROTTLES
    error_statuses = (401,)

    @extend_schema(
        tags=["auth"],
        request=PhoneInputSerializer,
        responses={200: MessageSerializer},
        summary="Text a new verification code",
        description=(
            "Without `Authorization`: a new registration code for the pending registration of "
            "`phone`. With a bearer token: a new add-phone code for a phone this account added "
            "and has not verified. The answer is the same whether or not a code was due; one "
            "send per code every `OTP_RESEND_COOLDOWN_SECONDS` (`429 throttled`)."
        ),
    )
    def post(self, request: Request) -> Response:
        data = PhoneInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request.user if request.user.is_authenticated else None
        services.otp_resend(phone=data.validated_data["phone"], user=user)
        return _message("If this phone is waiting for verification, a new code has been sent.")


class TokenApi(PublicApi):
    throttle_classes = LOGIN_THROTTLES
    error_statuses = (401, 403)

    @extend_schema(
        tags=["auth"],
        request=TokenInputSerializer,
        responses={200: TokenOutputSerializer},
        summary="Log in with any verified phone and the password",
    )
    def post(self, request: Request) -> Response:
        data = TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"token": services.user_login(**data.validated_data)})


class RefreshApi(PublicApi):
    error_statuses = (401,)

    @extend_schema(
        tags=["auth"],
        request=RefreshInputSerializer,
        responses={200: TokenPairSerializer},
        summary="Exchange a refresh token for a new pair (the old one is blacklisted)",
    )
    def post(self, request: Request) -> Response:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.token_refresh(refresh=data.validated_data["refresh"]))


class LogoutApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        request=RefreshInputSerializer,
        responses={200: MessageSerializer},
        summary="Blacklist a refresh token",
    )
    def post(self, request: Request) -> Response:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_logout(user=request.user, refresh=data.validated_data["refresh"])
        return _message("Logged out successfully")


class MeApi(APIView):
    @extend_schema(
        tags=["auth"], responses={200: MeOutputSerializer}, summary="The caller's account"
    )
    def get(self, request: Request) -> Response:
        return Response(MeOutputSerializer(user_get_profile(user_id=request.user.pk)).data)

    @extend_schema(
        tags=["auth"],
        request=MeUpdateInputSerializer,
        responses={200: MeOutputSerializer},
        summary="Change the name, language or SMS preferences",
        description=(
            "Any of `name`, `language` (`en` or `bn`: the language of the account's SMS and of "
            "the API's messages), `notify_reminders` and `notify_receipts` (renewal reminders "
            "and top-up receipts by SMS; suspension notices and codes always go). The answer is "
            "already in the new language."
        ),
    )
    def patch(self, request: Request) -> Response:
        data = MeUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_settings_update(user=request.user, **data.validated_data)
        language_activate_for(user)
        return Response(MeOutputSerializer(user_get_profile(user_id=user.pk)).data)


class AddPhoneApi(APIView):
    throttle_classes = OTP_SEND_THROTTLES

    @extend_schema(
        tags=["auth"],
        request=PhoneInputSerializer,
        responses={201: MessageSerializer},
        summary="Add a phone to the account; an OTP is texted to it",
        description=(
            "Texts the phone a code for adding it to an account. Complete it with `verify-otp/` "
            "sent with this account's bearer token (resend: `resend-otp/` with the token). A "
            "pending registration of the number keeps its own code."
        ),
    )
    def post(self, request: Request) -> Response:
        data = PhoneInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.phone_add(user=request.user, phone=data.validated_data["phone"])
        return _message(
            "Phone No added Successfully, Please verify it via otp", status.HTTP_201_CREATED
        )


class MakePrimaryPhoneApi(APIView):
    error_statuses = (404,)

    @extend_schema(
        tags=["auth"],
        request=PhoneInputSerializer,
        responses={201: MessageSerializer},
        summary="Make a verified phone the primary one",
    )
    def post(self, request: Request) -> Response:
        data = PhoneInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.phone_make_primary(user=request.user, phone=data.validated_data["phone"])
        return _message(f"Now {row.phone} is your primary phone no", status.HTTP_201_CREATED)


class PasswordResetApi(PublicApi):
    throttle_classes = OTP_SEND_THROTTLES

    @extend_schema(
        tags=["auth"],
        request=PhoneInputSerializer,
        responses={200: MessageSerializer},
        summary="Text a password reset code",
    )
    def post(self, request: Request) -> Response:
        data = PhoneInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(phone=data.validated_data["phone"])
        return _message("If an account uses this phone, a password reset code has been sent.")


class PasswordResetConfirmApi(PublicApi):
    throttle_classes = OTP_CHECK_THROTTLES

    @extend_schema(
        tags=["auth"],
        request=PasswordResetConfirmInputSerializer,
        responses={
            200: MessageSerializer,
            400: OpenApiResponse(description="otp_invalid, otp_expired or invalid"),
        },
        summary="Set a new password with the texted code",
    )
    def post(self, request: Request) -> Response:
        data = PasswordResetConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(
            phone=data.validated_data["phone"],
            code=data.validated_data["otp"],
            new_password=data.validated_data["new_password"],
        )
        return _message("Your password has been reset. Please log in again.")


# --- Credit ------------------------------------------------------------------------------------


class CreditApi(APIView):
    @extend_schema(
        tags=["credit"], responses={200: BalanceSerializer}, summary="The credit balance"
    )
    def get(self, request: Request) -> Response:
        return Response({"balance": f"{credit_balance(user_id=request.user.pk):.2f}"})


@extend_schema(tags=["credit"], summary="The credit ledger, newest first")
class CreditTransactionListApi(ListAPIView):
    serializer_class = CreditTransactionSerializer

    def get_queryset(self):
        return credit_transaction_list(user_id=self.request.user.pk)


class TopUpApi(APIView):
    error_statuses = (409,)  # Idempotency-Key reused

    @extend_schema(
        tags=["credit"],
        request=TopUpInputSerializer,
        responses={200: TopUpOutputSerializer},
        parameters=[IDEMPOTENCY_KEY],
        summary="Add credit (staff: to any customer)",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = TopUpInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.credit_recipient_get(
            actor=request.user, reference=data.validated_data.get("customer")
        )
        credit_top_up(
            user_id=customer.pk,
            amount=data.validated_data["amount"],
            by=request.user if customer.pk != request.user.pk else None,
        )
        # Read after the top-up's listeners ran: settled subscriptions may have spent some.
        balance = credit_balance(user_id=customer.pk)
        return Response({"message": "Credit increased", "balance": f"{balance:.2f}"})

    @extend_schema(
        tags=["credit"],
        request=TopUpInputSerializer,
        responses={200: TopUpOutputSerializer},
        parameters=[IDEMPOTENCY_KEY],
        summary="Add credit (seed 003's PUT increasecredit)",
    )
    def put(self, request: Request) -> Response:
        return self.post(request)
