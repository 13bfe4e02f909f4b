"""
A phone number ends verified only on an account whose owner received its code: a code belongs to
one account, one phone and one purpose, and nobody else's request replaces or re-points it.
"""

from decimal import Decimal

import pytest

from accounts import sms
from accounts.credit import credit_top_up
from accounts.models import OneTimePassword, PhoneNumber, User
from accounts.otp import MESSAGES
from conftest import ApiClient, last_code, last_code_for

from .conftest import login
from .factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
VERIFY = "/api/v1/auth/verify-otp/"
RESEND = "/api/v1/auth/resend-otp/"
ADD = "/api/v1/auth/add-phone-no/"
TOKEN = "/api/v1/auth/token/"
PHONE = "+8801516100100"
OWNER_PASSWORD = DEFAULT_PASSWORD
STRANGER_PASSWORD = "strangers-own-77"
Purpose = OneTimePassword.Purpose


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to("2026-03-01 09:00:00Z", tick=False)


def register(client, password=OWNER_PASSWORD, name="Owner"):
    return client.post(REGISTER, {"phone": PHONE, "name": name, "password": password})


def signed_in(user: User) -> ApiClient:
    client = ApiClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, str(user.phone))['access']}")
    return client


def can_log_in(password: str) -> bool:
    return ApiClient().post(TOKEN, {"phone": PHONE, "password": password}).status_code == 200


def holder() -> User:
    """The account on which PHONE is verified."""
    return PhoneNumber.objects.get(phone=PHONE, is_verified=True).user


# --- Path 1: registering a number that awaits its code -----------------------------------------


def test_registering_a_number_that_awaits_its_code_does_not_take_it_over(api_client, time_machine):
    assert register(api_client).status_code == 201
    time_machine.shift(120)

    stranger = register(ApiClient(), password=STRANGER_PASSWORD, name="Stranger")

    assert stranger.status_code == 409
    assert stranger.json()["code"] == "registration_pending"
    # The phone's owner types the newest code the phone received.
    assert api_client.post(VERIFY, {"phone": PHONE, "otp": last_code(PHONE)}).status_code == 200
    assert holder().name == "Owner"
    assert can_log_in(OWNER_PASSWORD)
    assert not can_log_in(STRANGER_PASSWORD)


def test_the_person_who_registered_can_still_resend_after_a_refused_registration(
    api_client, time_machine
):
    register(api_client)
    time_machine.shift(61)
    register(ApiClient(), password=STRANGER_PASSWORD)

    assert api_client.post(RESEND, {"phone": PHONE}).status_code == 200

    assert len(sms.outbox) == 2
    assert api_client.post(VERIFY, {"phone": PHONE, "otp": last_code(PHONE)}).status_code == 200
    assert can_log_in(OWNER_PASSWORD)


def test_a_pending_account_that_money_refers_to_is_pending_not_taken(api_client, time_machine):
    register(api_client)
    credit_top_up(user_id=User.objects.get(phone=PHONE).pk, amount=Decimal("5"))
    time_machine.shift(300)

    response = register(ApiClient(), password=STRANGER_PASSWORD)

    assert response.status_code == 409
    assert response.json()["code"] == "registration_pending"
    assert User.objects.get(phone=PHONE).check_password(OWNER_PASSWORD)
    # Its owner can still finish it.
    time_machine.shift(61)
    api_client.post(RESEND, {"phone": PHONE})
    assert api_client.post(VERIFY, {"phone": PHONE, "otp": last_code(PHONE)}).status_code == 200


# --- Path 2: an account adds a number that awaits its registration ---------------------------


def test_adding_a_pending_number_never_gives_the_adder_the_owners_registration(
    api_client, time_machine
):
    register(api_client)
    registration_code = last_code(PHONE)
    time_machine.shift(61)
    attacker = UserFactory(name="Attacker")
    attacker_client = signed_in(attacker)

    assert attacker_client.post(ADD, {"phone": PHONE}).status_code == 201

    # The owner types the newest code the phone received: the one to add it to an account.
    newest = last_code(PHONE)
    assert newest == last_code_for(PHONE, Purpose.ADD_PHONE)
    if newest != registration_code:
        typed = api_client.post(VERIFY, {"phone": PHONE, "otp": newest})
        assert typed.json()["code"] == "otp_invalid"
    assert PhoneNumber.objects.filter(phone=PHONE, is_verified=True).count() == 0
    assert User.objects.filter(phone=PHONE).exists()
    # The registration code still completes the owner's registration.
    assert api_client.post(VERIFY, {"phone": PHONE, "otp": registration_code}).status_code == 200
    assert holder().name == "Owner"
    assert not attacker.phones.filter(phone=PHONE).exists()
    # The add-phone code is worth nothing to the attacker now.
    late = attacker_client.post(VERIFY, {"phone": PHONE, "otp": newest})
    assert late.status_code == 400
    assert holder().name == "Owner"


def test_a_registration_after_someone_added_the_number_keeps_both_codes_apart(api_client):
    attacker_client = signed_in(UserFactory(name="Attacker"))
    attacker_client.post(ADD, {"phone": PHONE})
    add_code = last_code_for(PHONE, Purpose.ADD_PHONE)

    assert register(api_client).status_code == 201

    registration_code = last_code_for(PHONE, Purpose.REGISTRATION)
    if add_code != registration_code:
        assert api_client.post(VERIFY, {"phone": PHONE, "otp": add_code}).status_code == 400
    assert api_client.post(VERIFY, {"phone": PHONE, "otp": registration_code}).status_code == 200
    assert holder().name == "Owner"


def test_issuing_a_code_never_touches_another_accounts_code(api_client, time_machine):
    register(api_client)
    owners = OneTimePassword.objects.get(phone=PHONE, purpose=Purpose.REGISTRATION)
    time_machine.shift(61)

    for name in ("First", "Second"):
        signed_in(UserFactory(name=name)).post(ADD, {"phone": PHONE})

    again = OneTimePassword.objects.get(pk=owners.pk)
    assert (again.user_id, again.code_hash, again.attempts, again.expires_at) == (
        owners.user_id,
        owners.code_hash,
        owners.attempts,
        owners.expires_at,
    )
    assert OneTimePassword.objects.filter(phone=PHONE).count() == 3


# --- Completing an added phone -----------------------------------------------------------------


def test_an_anonymous_verify_never_completes_an_added_phone(api_client):
    adder = UserFactory()
    adder_client = signed_in(adder)
    adder_client.post(ADD, {"phone": PHONE})
    code = last_code(PHONE)

    anonymous = api_client.post(VERIFY, {"phone": PHONE, "otp": code})

    assert anonymous.status_code == 400
    assert anonymous.json()["code"] == "otp_invalid"
    assert not PhoneNumber.objects.filter(phone=PHONE, is_verified=True).exists()
    assert adder_client.post(VERIFY, {"phone": PHONE, "otp": code}).status_code == 200
    assert holder() == adder


def test_an_add_phone_code_works_only_for_the_account_that_added_it(time_machine):
    first, second = UserFactory(), UserFactory()
    first_client, second_client = signed_in(first), signed_in(second)
    first_client.post(ADD, {"phone": PHONE})
    first_code = last_code(PHONE)
    second_client.post(ADD, {"phone": PHONE})
    second_code = last_code(PHONE)

    if first_code != second_code:
        wrong = second_client.post(VERIFY, {"phone": PHONE, "otp": first_code})
        assert wrong.json()["code"] == "otp_invalid"
    assert first_client.post(VERIFY, {"phone": PHONE, "otp": first_code}).status_code == 200
    assert holder() == first
    assert not second.phones.filter(phone=PHONE).exists()


def test_a_signed_in_verify_never_completes_a_registration(api_client):
    register(api_client)
    someone = signed_in(UserFactory())

    response = someone.post(VERIFY, {"phone": PHONE, "otp": last_code(PHONE)})

    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"
    assert api_client.post(VERIFY, {"phone": PHONE, "otp": last_code(PHONE)}).status_code == 200


def test_verify_with_a_bad_token_is_401_not_a_registration(api_client):
    register(api_client)
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = api_client.post(VERIFY, {"phone": PHONE, "otp": last_code(PHONE)})

    assert response.status_code == 401
    assert not PhoneNumber.objects.filter(phone=PHONE, is_verified=True).exists()


# --- Resending ---------------------------------------------------------------------------------


def test_resend_with_a_token_texts_a_new_add_phone_code(time_machine):
    adder = UserFactory()
    adder_client = signed_in(adder)
    adder_client.post(ADD, {"phone": PHONE})
    time_machine.shift(60)

    assert adder_client.post(RESEND, {"phone": PHONE}).status_code == 200

    assert len(sms.outbox) == 2
    assert adder_client.post(VERIFY, {"phone": PHONE, "otp": last_code(PHONE)}).status_code == 200


def test_anonymous_resend_texts_only_a_registration_code(api_client, time_machine):
    signed_in(UserFactory()).post(ADD, {"phone": PHONE})
    time_machine.shift(60)

    assert api_client.post(RESEND, {"phone": PHONE}).status_code == 200

    assert len(sms.outbox) == 1


def test_a_strangers_add_phone_does_not_hold_back_the_owners_resend(api_client, time_machine):
    register(api_client)
    time_machine.shift(61)
    signed_in(UserFactory()).post(ADD, {"phone": PHONE})

    response = api_client.post(RESEND, {"phone": PHONE})

    assert response.status_code == 200
    assert api_client.post(VERIFY, {"phone": PHONE, "otp": last_code(PHONE)}).status_code == 200
    assert holder().name == "Owner"


def test_the_cooldown_spaces_each_code_of_its_own(time_machine):
    adder_client = signed_in(UserFactory())
    adder_client.post(ADD, {"phone": PHONE})
    time_machine.shift(20)

    response = adder_client.post(RESEND, {"phone": PHONE})

    assert response.status_code == 429
    assert response["Retry-After"] == "40"


# --- What the SMS says -------------------------------------------------------------------------

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


@pytest.mark.parametrize(
    ("purpose", "says"),
    [
        (Purpose.REGISTRATION, "register"),
        (Purpose.ADD_PHONE, "add this number to an account"),
        (Purpose.PASSWORD_RESET, "reset your password"),
    ],
)
def test_every_sms_says_what_the_code_is_for_and_not_to_share_it(purpose, says):
    text = MESSAGES[purpose].format(code="123456", minutes=5)

    assert says in text
    assert "Never share it" in text
    assert len(text) <= 160 and set(text) <= GSM7  # one SMS segment


def test_the_sms_of_each_flow_names_its_purpose(api_client, time_machine):
    register(api_client)
    api_client.post(VERIFY, {"phone": PHONE, "otp": last_code(PHONE)})
    signed_in(UserFactory()).post(ADD, {"phone": "+8801917100100"})
    api_client.post("/api/v1/auth/password-reset/", {"phone": PHONE})

    texts = [message.text for message in sms.outbox]
    assert "to register" in texts[0]
    assert "to add this number to an account" in texts[1]
    assert "to reset your password" in texts[2]
