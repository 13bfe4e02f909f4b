import pytest

from accounts import sms
from accounts.models import PhoneNumber, User
from conftest import last_code

from .conftest import login
from .factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me/"
ADD = "/api/v1/auth/add-phone-no/"
PRIMARY = "/api/v1/auth/make-primary-phone/"
VERIFY = "/api/v1/auth/verify-otp/"
SECOND = "+8801917100100"


def test_me_shows_the_account(auth_client, user):
    response = auth_client.get(ME)

    assert response.status_code == 200
    assert response.json() == {
        "id": user.pk,
        "name": user.name,
        "phone": str(user.phone),
        "phones": [{"phone": str(user.phone), "is_primary": True, "is_verified": True}],
        "credit": "0.00",
        "date_joined": user.date_joined.isoformat().replace("+00:00", "Z"),
        "language": "en",
        "notify_reminders": True,
        "notify_receipts": True,
    }


def test_me_requires_authentication(api_client, db):
    response = api_client.get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_add_phone_texts_a_code_and_verifying_it_adds_a_login(auth_client, user, api_client):
    response = auth_client.post(ADD, {"phone": "01917100100"})

    assert response.status_code == 201
    assert response.json() == {"message": "Phone No added Successfully, Please verify it via otp"}
    assert sms.outbox[-1].phone == SECOND
    phones = auth_client.get(ME).json()["phones"]
    assert {"phone": SECOND, "is_primary": False, "is_verified": False} in phones

    assert auth_client.post(VERIFY, {"phone": SECOND, "otp": last_code(SECOND)}).status_code == 200

    assert {"phone": SECOND, "is_primary": False, "is_verified": True} in auth_client.get(
        ME
    ).json()["phones"]
    login(api_client, SECOND)


def test_add_phone_already_on_the_account_is_phone_taken(auth_client, user):
    response = auth_client.post(ADD, {"phone": str(user.phone)})

    assert response.status_code == 400
    assert response.json()["code"] == "phone_taken"


def test_add_phone_verified_on_another_account_is_phone_taken(auth_client):
    UserFactory(phone=SECOND)

    response = auth_client.post(ADD, {"phone": SECOND})

    assert response.status_code == 400
    assert response.json()["code"] == "phone_taken"
    assert sms.outbox == []


def test_an_account_keeps_at_most_five_phones(auth_client, user, time_machine):
    for n in range(4):
        PhoneNumber.objects.create(user=user, phone=f"+88018{n:08d}")

    response = auth_client.post(ADD, {"phone": SECOND})

    assert response.status_code == 400
    assert response.json()["code"] == "phone_limit_reached"
    assert user.phones.count() == 5


def test_add_phone_rejects_a_bad_number(auth_client):
    response = auth_client.post(ADD, {"phone": "+88012"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_add_phone_requires_authentication(api_client, db):
    assert api_client.post(ADD, {"phone": SECOND}).status_code == 401


def test_a_pending_claim_on_someone_elses_number_gives_way_when_they_verify(
    api_client, time_machine
):
    squatter = UserFactory()
    PhoneNumber.objects.create(user=squatter, phone=SECOND)
    time_machine.move_to("2026-02-01 08:00:00Z", tick=False)

    api_client.post(
        "/api/v1/auth/register/", {"phone": SECOND, "name": "Owner", "password": DEFAULT_PASSWORD}
    )
    assert api_client.post(VERIFY, {"phone": SECOND, "otp": last_code(SECOND)}).status_code == 200

    assert not squatter.phones.filter(phone=SECOND).exists()
    assert User.objects.get(phone=SECOND).name == "Owner"


def test_verifying_a_number_removes_a_pending_registration_of_it(auth_client):
    pending = UserFactory(phone=SECOND, phone_verified=False)
    auth_client.post(ADD, {"phone": SECOND})

    assert auth_client.post(VERIFY, {"phone": SECOND, "otp": last_code(SECOND)}).status_code == 200

    assert not User.objects.filter(pk=pending.pk).exists()


def test_make_primary_switches_the_primary_phone(auth_client, user):
    PhoneNumber.objects.create(user=user, phone=SECOND, is_verified=True)

    response = auth_client.post(PRIMARY, {"phone": "01917100100"})

    assert response.status_code == 201
    assert response.json() == {"message": f"Now {SECOND} is your primary phone no"}
    me = auth_client.get(ME).json()
    assert me["phone"] == SECOND
    primaries = [phone["phone"] for phone in me["phones"] if phone["is_primary"]]
    assert primaries == [SECOND]


def test_make_primary_of_the_current_primary_is_accepted(auth_client, user):
    response = auth_client.post(PRIMARY, {"phone": str(user.phone)})

    assert response.status_code == 201
    assert auth_client.get(ME).json()["phone"] == str(user.phone)


def test_make_primary_of_an_unverified_phone_is_refused(auth_client, user):
    PhoneNumber.objects.create(user=user, phone=SECOND)

    response = auth_client.post(PRIMARY, {"phone": SECOND})

    assert response.status_code == 400
    assert response.json()["code"] == "phone_not_verified"
    assert auth_client.get(ME).json()["phone"] == str(user.phone)


def test_make_primary_of_someone_elses_phone_is_404(auth_client):
    UserFactory(phone=SECOND)

    response = auth_client.post(PRIMARY, {"phone": SECOND})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_make_primary_rejects_a_bad_number(auth_client):
    assert auth_client.post(PRIMARY, {"phone": "x"}).json()["code"] == "invalid"
