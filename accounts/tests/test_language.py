"""The account's language: its SMS codes and the API's error messages follow it (issue 11)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts import sms
from accounts.models import User
from conftest import last_code

from .conftest import PHONE, PHONE_NATIONAL, login
from .factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me/"
REGISTER = "/api/v1/auth/register/"
ADD_PHONE = "/api/v1/auth/add-phone-no/"
RESET = "/api/v1/auth/password-reset/"
PLANS = "/api/v1/plans/"


def client_of(api_client, user: User):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {login(api_client, str(user.phone))['access']}"
    )
    return api_client


def last_sms(phone: str) -> str:
    return [message.text for message in sms.outbox if message.phone == phone][-1]


def register(api_client, **headers):
    body = {"phone": PHONE_NATIONAL, "name": "Ikram Khan", "password": DEFAULT_PASSWORD}
    response = api_client.post(REGISTER, body, **headers)
    assert response.status_code == 201, response.json()
    return User.objects.get(phone=PHONE)


@override_settings(DEFAULT_LANGUAGE="bn", LANGUAGE_CODE="bn")
def test_a_new_account_speaks_bengali_by_default_and_gets_its_code_in_bengali(api_client):
    user = register(api_client)

    assert user.language == "bn"
    text = last_sms(PHONE)
    assert text.startswith(f"{last_code(PHONE)} আপনার নিবন্ধন কোড।")
    assert "মেয়াদ ৫ মিনিট" in text  # OTP_TTL_SECONDS = 300, in Bengali digits


def test_a_new_account_takes_the_language_of_its_registration_request(api_client):
    user = register(api_client, HTTP_ACCEPT_LANGUAGE="bn-BD,bn;q=0.9,en;q=0.5")

    assert user.language == "bn"
    assert "আপনার নিবন্ধন কোড" in last_sms(PHONE)


def test_an_english_account_gets_its_codes_in_english(api_client):
    user = register(api_client, HTTP_ACCEPT_LANGUAGE="en")

    assert user.language == "en"
    code = last_code(PHONE)
    assert last_sms(PHONE) == (
        f"{code} is your code to register an account with this number. It expires in 5 min."
        " Never share it with anyone."
    )


def test_a_bengali_customer_gets_add_phone_and_reset_codes_in_bengali(api_client):
    user = UserFactory(language="bn")
    client = client_of(api_client, user)

    assert client.post(ADD_PHONE, {"phone": "01917100100"}).status_code == 201
    assert "এই নম্বরটি কোনো অ্যাকাউন্টে যোগ করার কোড" in last_sms("+8801917100100")

    api_client.credentials()
    assert api_client.post(RESET, {"phone": str(user.phone)}).status_code == 200
    assert "আপনার পাসওয়ার্ড রিসেট কোড" in last_sms(str(user.phone))


def test_a_bengali_customer_reads_error_messages_in_bengali(api_client):
    client = client_of(api_client, UserFactory(language="bn"))

    response = client.post(ADD_PHONE, {})

    assert response.status_code == 400
    assert response.json() == {
        "message": "phone: এই ঘরটি পূরণ করা আবশ্যক।",
        "code": "invalid",
        "errors": {"phone": ["এই ঘরটি পূরণ করা আবশ্যক।"]},
    }
    assert response["Content-Language"] == "bn"
    # The registry's own messages too, whatever Accept-Language says: the account decides.
    response = client.post(ADD_PHONE, {"phone": "12"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.json()["errors"] == {"phone": ["একটি সঠিক ফোন নম্বর দিন।"]}


def test_an_english_customer_reads_error_messages_in_english_whatever_the_header(api_client):
    client = client_of(api_client, UserFactory(language="en"))

    response = client.post(ADD_PHONE, {}, HTTP_ACCEPT_LANGUAGE="bn")

    assert response.json()["errors"] == {"phone": ["This field is required."]}
    assert response["Content-Language"] == "en"


def test_anonymous_errors_follow_accept_language_else_the_default(api_client):
    bad = {"phone": "01516100100", "password": "wrong-password-1"}
    UserFactory(phone=PHONE)

    bengali = api_client.post("/api/v1/auth/token/", bad, HTTP_ACCEPT_LANGUAGE="bn")
    english = api_client.post("/api/v1/auth/token/", bad, HTTP_ACCEPT_LANGUAGE="fr, en;q=0.5")
    with override_settings(DEFAULT_LANGUAGE="bn", LANGUAGE_CODE="bn"):
        default = api_client.post("/api/v1/auth/token/", bad, HTTP_ACCEPT_LANGUAGE="fr")

    assert bengali.json()["message"] == "এই ফোন নম্বর ও পাসওয়ার্ডে কোনো সক্রিয় অ্যাকাউন্ট পাওয়া যায়নি।"
    assert english.json()["message"] == "No active account found with the given phone and password."
    assert default.json()["message"] == bengali.json()["message"]
    assert bengali.json()["code"] == english.json()["code"] == "invalid_credentials"


def test_me_shows_and_patch_changes_language_and_notice_preferences(api_client):
    user = UserFactory(language="en", name="Ikram Khan")
    client = client_of(api_client, user)

    response = client.patch(ME, {"language": "bn", "notify_reminders": False, "name": "Ikram K."})

    assert response.status_code == 200
    body = response.json()
    assert (body["language"], body["notify_reminders"], body["notify_receipts"]) == (
        "bn",
        False,
        True,
    )
    assert body["name"] == "Ikram K."
    assert client.get(ME).json() == body
    user.refresh_from_db()
    assert (user.language, user.notify_reminders, user.notify_receipts) == ("bn", False, True)
    # The next error is already in Bengali.
    assert client.post(ADD_PHONE, {}).json()["errors"] == {"phone": ["এই ঘরটি পূরণ করা আবশ্যক।"]}


def test_patch_me_leaves_out_fields_it_is_not_sent(api_client):
    user = UserFactory(language="bn", notify_receipts=False)
    client = client_of(api_client, user)

    body = client.patch(ME, {"notify_reminders": False}).json()

    assert (body["language"], body["notify_reminders"], body["notify_receipts"]) == (
        "bn",
        False,
        False,
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"language": "fr"}, "language"),
        ({"language": ""}, "language"),
        ({"notify_receipts": "sometimes"}, "notify_receipts"),
        ({"name": ""}, "name"),
    ],
)
def test_patch_me_refuses_an_unknown_language_and_bad_values(api_client, body, field):
    user = UserFactory(language="en")
    client = client_of(api_client, user)

    response = client.patch(ME, body)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == [field]
    user.refresh_from_db()
    assert user.language == "en" and user.notify_receipts is True


def test_patch_me_refuses_an_unknown_language_in_the_callers_language(api_client):
    client = client_of(api_client, UserFactory(language="bn"))

    response = client.patch(ME, {"language": "fr"})

    assert response.json()["errors"] == {"language": ['"fr" কোনো বৈধ বিকল্প নয়।']}


def test_patch_me_requires_authentication(api_client):
    response = api_client.patch(ME, {"language": "bn"})

    assert response.status_code == 401


def test_staff_see_and_filter_customers_by_language_in_the_admin(client):
    staff = User.objects.create_superuser("+8801700000999", DEFAULT_PASSWORD, name="Staff")
    client.force_login(staff)
    bengali = UserFactory(language="bn", notify_receipts=False)
    english = UserFactory(language="en")

    page = client.get(f"/admin/accounts/user/{bengali.pk}/change/")
    listed = client.get("/admin/accounts/user/", {"language__exact": "bn"})

    assert page.status_code == 200
    assert b'name="language"' in page.content
    assert b'name="notify_receipts"' in page.content
    assert str(bengali.phone).encode() in listed.content
    assert str(english.phone).encode() not in listed.content


def test_a_bengali_customer_reads_billing_and_paging_refusals_in_bengali(api_client):
    client = client_of(api_client, UserFactory(language="bn"))

    purchase = client.post("/api/v1/purchase-plan/", {"plan": 999})
    cancel = client.post("/api/v1/cancel-plan/999/")
    page = client.get(PLANS, {"page_size": "abc"})

    assert purchase.json()["message"] == "এই আইডির কোনো কেনার মতো প্ল্যান নেই।"
    assert cancel.json()["message"] == "এই আইডির কোনো সাবস্ক্রিপশন আপনার নেই।"
    assert page.json()["errors"] == {"page_size": ["১ থেকে ১০০-এর মধ্যে একটি পূর্ণ সংখ্যা পাঠান।"]}
