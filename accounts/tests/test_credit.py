from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.credit import credit_adjust, credit_pay_invoice, credit_top_up
from accounts.models import CreditTransaction, User
from accounts.signals import credit_added
from core.exceptions import ApplicationError

from .conftest import login
from .factories import UserFactory

pytestmark = pytest.mark.django_db

CREDIT = "/api/v1/credit/"
LEDGER = "/api/v1/credit/transactions/"
TOP_UP = "/api/v1/credit/top-up/"


def ledger_matches_balance(user: User) -> bool:
    user.refresh_from_db()
    # Summed in Python: SQLite adds decimals up as floats (PostgreSQL's numeric is exact).
    return (
        sum(user.credit_transactions.values_list("amount", flat=True), Decimal("0")) == user.credit
    )


def test_new_customers_have_zero_credit(auth_client):
    response = auth_client.get(CREDIT)

    assert response.status_code == 200
    assert response.json() == {"balance": "0.00"}


def test_top_up_adds_credit_and_writes_the_ledger(auth_client, user):
    response = auth_client.post(TOP_UP, {"amount": "150.50"})

    assert response.status_code == 200
    assert response.json() == {"message": "Credit increased", "balance": "150.50"}
    assert auth_client.get(CREDIT).json() == {"balance": "150.50"}
    entry = auth_client.get(LEDGER).json()["results"][0]
    assert entry["amount"] == "150.50"
    assert entry["kind"] == "top_up"
    assert entry["balance_after"] == "150.50"
    assert entry["invoice_id"] is None
    assert ledger_matches_balance(user)


def test_top_up_with_put_and_the_credit_alias_as_in_seed_003(auth_client, user):
    response = auth_client.put(TOP_UP.rstrip("/"), {"credit": 3000})

    assert response.status_code == 200
    assert response.json()["balance"] == "3000.00"


def test_amount_and_its_alias_may_agree(auth_client):
    assert auth_client.post(TOP_UP, {"amount": "5", "credit": "5.00"}).status_code == 200


def test_amount_and_its_alias_may_not_disagree(auth_client):
    response = auth_client.post(TOP_UP, {"amount": "5", "credit": "6"})

    assert response.status_code == 400
    assert "amount" in response.json()["errors"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"amount": None},
        {"amount": "-10"},
        {"amount": "0"},
        {"amount": 0},
        {"amount": "0.001"},
        {"amount": "10.123"},
        {"amount": "abc"},
        {"amount": "NaN"},
        {"amount": "1e400"},
        {"amount": "10000000000"},
        {"amount": 10**30},
        {"amount": True},
        {"amount": [10]},
        {"credit": "-1"},
    ],
)
def test_bad_amounts_are_rejected_and_move_nothing(auth_client, user, payload):
    response = auth_client.post(TOP_UP, payload, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "amount" in response.json()["errors"] or "credit" in response.json()["errors"]
    user.refresh_from_db()
    assert user.credit == 0
    assert not CreditTransaction.objects.exists()


def test_the_balance_never_exceeds_its_maximum(auth_client, user):
    auth_client.post(TOP_UP, {"amount": "9999999999.99"})

    response = auth_client.post(TOP_UP, {"amount": "0.01"})

    assert response.status_code == 400
    assert response.json()["code"] == "balance_limit_exceeded"
    assert auth_client.get(CREDIT).json()["balance"] == "9999999999.99"


def test_credit_endpoints_need_a_token(api_client, db):
    for method, path in [("get", CREDIT), ("get", LEDGER), ("post", TOP_UP), ("put", TOP_UP)]:
        assert getattr(api_client, method)(path, {"amount": "1"}).status_code == 401


def test_ledger_is_newest_first_and_paginated(auth_client, user):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(1, 26):
        credit_top_up(user_id=user.pk, amount=Decimal(n), now=start + timedelta(minutes=n))

    page = auth_client.get(LEDGER).json()

    assert page["count"] == 25
    assert [entry["amount"] for entry in page["results"][:3]] == ["25.00", "24.00", "23.00"]
    assert page["results"][0]["balance_after"] == f"{sum(range(1, 26))}.00"
    assert page["results"][0]["created_at"].endswith("Z")
    assert len(auth_client.get(LEDGER, {"page": 2}).json()["results"]) == 5


def test_a_customer_never_sees_another_customers_ledger(auth_client, user):
    other = UserFactory()
    credit_top_up(user_id=other.pk, amount=Decimal("99"))

    assert auth_client.get(LEDGER).json()["count"] == 0
    assert auth_client.get(CREDIT).json()["balance"] == "0.00"


def test_ledger_queries_do_not_grow_with_the_page(auth_client, user, django_assert_max_num_queries):
    for _ in range(100):
        credit_top_up(user_id=user.pk, amount=Decimal("1"))

    for size in (1, 100):
        with django_assert_max_num_queries(4):
            assert len(auth_client.get(LEDGER, {"page_size": size}).json()["results"]) == size


def test_self_top_up_can_be_switched_off(auth_client, settings):
    settings.ALLOW_SELF_TOP_UP = False

    response = auth_client.post(TOP_UP, {"amount": "10"})

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert auth_client.get(CREDIT).json()["balance"] == "0.00"


def test_customers_cannot_top_up_someone_else(auth_client):
    other = UserFactory()

    response = auth_client.post(TOP_UP, {"amount": "10", "customer": other.pk})

    assert response.status_code == 403
    other.refresh_from_db()
    assert other.credit == 0


@pytest.fixture
def staff_client(api_client):
    staff = UserFactory(is_staff=True)
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {login(api_client, str(staff.phone))['access']}"
    )
    api_client.staff = staff
    return api_client


@pytest.mark.parametrize("by", ["id", "int-id", "phone", "national-phone"])
def test_staff_top_up_any_customer_by_id_or_phone(staff_client, settings, by):
    settings.ALLOW_SELF_TOP_UP = False
    customer = UserFactory(phone="+8801516100100")
    reference = {
        "id": str(customer.pk),
        "int-id": customer.pk,
        "phone": "+8801516100100",
        "national-phone": "01516100100",
    }[by]

    response = staff_client.post(TOP_UP, {"amount": "75", "customer": reference}, format="json")

    assert response.status_code == 200
    assert response.json()["balance"] == "75.00"
    customer.refresh_from_db()
    assert customer.credit == Decimal("75.00")
    entry = customer.credit_transactions.get()
    assert entry.created_by == staff_client.staff
    assert staff_client.get(CREDIT).json()["balance"] == "0.00"


@pytest.mark.parametrize("reference", ["999999", "+8801999999999", "nobody"])
def test_staff_top_up_of_an_unknown_customer_is_a_field_error(staff_client, reference):
    response = staff_client.post(TOP_UP, {"amount": "75", "customer": reference})

    assert response.status_code == 400
    assert "customer" in response.json()["errors"]


def test_staff_cannot_top_up_an_unverified_account(staff_client):
    pending = UserFactory(phone_verified=False)

    response = staff_client.post(TOP_UP, {"amount": "75", "customer": str(pending.pk)})

    assert response.status_code == 400


def test_top_up_announces_credit_added_after_saving(auth_client, user):
    heard = []

    def listener(sender, user_id, transaction, **kwargs):
        user.refresh_from_db()
        heard.append((user_id, transaction.amount, user.credit))

    credit_added.connect(listener)
    try:
        auth_client.post(TOP_UP, {"amount": "20"})
    finally:
        credit_added.disconnect(listener)

    assert heard == [(user.pk, Decimal("20.00"), Decimal("20.00"))]


def test_a_failing_listener_does_not_undo_the_top_up(auth_client, user):
    def broken(**kwargs):
        raise RuntimeError("billing is down")

    credit_added.connect(broken)
    try:
        response = auth_client.post(TOP_UP, {"amount": "20"})
    finally:
        credit_added.disconnect(broken)

    assert response.status_code == 200
    assert auth_client.get(CREDIT).json()["balance"] == "20.00"


def test_the_top_up_response_shows_what_listeners_spent(auth_client, user):
    def pay_invoice(user_id, **kwargs):
        credit_pay_invoice(user_id=user_id, amount=Decimal("15"), invoice_id=7)

    credit_added.connect(pay_invoice)
    try:
        response = auth_client.post(TOP_UP, {"amount": "20"})
    finally:
        credit_added.disconnect(pay_invoice)

    assert response.json()["balance"] == "5.00"
    entries = auth_client.get(LEDGER).json()["results"]
    assert [(e["kind"], e["amount"], e["invoice_id"]) for e in entries] == [
        ("invoice_payment", "-15.00", 7),
        ("top_up", "20.00", None),
    ]


# --- The credit service ------------------------------------------------------------------------


def test_a_payment_larger_than_the_balance_is_refused_and_changes_nothing(user):
    credit_top_up(user_id=user.pk, amount=Decimal("10"))

    with pytest.raises(ApplicationError) as refused:
        credit_pay_invoice(user_id=user.pk, amount=Decimal("10.01"), invoice_id=1)

    assert refused.value.code == "insufficient_credit"
    assert refused.value.status_code == 402
    user.refresh_from_db()
    assert user.credit == Decimal("10.00")
    assert user.credit_transactions.count() == 1


def test_a_payment_of_the_whole_balance_leaves_zero(user):
    credit_top_up(user_id=user.pk, amount=Decimal("10"))

    credit_pay_invoice(user_id=user.pk, amount=Decimal("10"), invoice_id=1)

    user.refresh_from_db()
    assert user.credit == 0
    assert ledger_matches_balance(user)


def test_adjustments_go_both_ways_but_never_below_zero(user):
    staff = UserFactory(is_staff=True)
    credit_adjust(user_id=user.pk, amount=Decimal("30"), by=staff, note="goodwill")
    credit_adjust(user_id=user.pk, amount=Decimal("-12.5"), by=staff, note="correction")

    with pytest.raises(ApplicationError):
        credit_adjust(user_id=user.pk, amount=Decimal("-100"), by=staff, note="too much")

    user.refresh_from_db()
    assert user.credit == Decimal("17.50")
    assert ledger_matches_balance(user)
    assert list(user.credit_transactions.values_list("kind", flat=True)) == [
        "adjustment",
        "adjustment",
    ]


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1")])
def test_top_ups_must_be_positive(user, amount):
    with pytest.raises(ApplicationError):
        credit_top_up(user_id=user.pk, amount=amount)


def test_the_database_refuses_a_negative_balance(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(credit=Decimal("-1"))


def test_the_database_refuses_a_zero_ledger_line(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditTransaction.objects.create(user=user, amount=0, kind="adjustment", balance_after=0)


def test_the_database_refuses_a_positive_invoice_payment(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditTransaction.objects.create(
            user=user, amount=5, kind="invoice_payment", balance_after=5
        )
