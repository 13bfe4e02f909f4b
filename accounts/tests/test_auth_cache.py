"""AUTH_USER_CACHE_SECONDS: the account behind a token comes from the cache, not from a query on
every request; a password reset, a deactivation or a deletion still cuts access at once."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.credit import credit_top_up
from accounts.models import User
from conftest import ApiClient, last_code
from core.authentication import FORGET_SECONDS, _auth_key

from .conftest import login
from .factories import UserFactory

pytestmark = pytest.mark.django_db

PLANS = "/api/v1/plans/"
ME = "/api/v1/auth/me/"


@pytest.fixture
def cached(settings):
    settings.AUTH_USER_CACHE_SECONDS = 60


@pytest.fixture
def user(db) -> User:
    return UserFactory()


def client_for(user: User) -> ApiClient:
    client = ApiClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, str(user.phone))['access']}")
    return client


def queries_of(client: ApiClient, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def reads_the_user(queries: list[str]) -> bool:
    return any('FROM "accounts_user"' in sql for sql in queries)


def test_without_the_setting_every_request_reads_the_account(user, settings):
    settings.AUTH_USER_CACHE_SECONDS = 0
    client = client_for(user)
    client.get(PLANS)

    assert reads_the_user(queries_of(client, PLANS))


def test_a_cached_account_saves_the_query(user, cached, settings, django_assert_num_queries):
    client = client_for(user)
    settings.AUTH_USER_CACHE_SECONDS = 0
    uncached = queries_of(client, PLANS)
    settings.AUTH_USER_CACHE_SECONDS = 60
    client.get(PLANS)  # reads the account and caches it

    with django_assert_num_queries(len(uncached) - 1) as captured:
        assert client.get(PLANS).status_code == 200
    assert not reads_the_user([query["sql"] for query in captured.captured_queries])


def test_the_balance_is_never_taken_from_the_cache(user, cached):
    client = client_for(user)
    client.get(ME)
    credit_top_up(user_id=user.pk, amount=Decimal("25.00"))

    assert client.get(ME).json()["credit"] == "25.00"


def test_a_view_reading_other_columns_reads_the_rest_of_the_row_once(user, cached):
    client = client_for(user)
    client.get(PLANS)
    assert not reads_the_user(queries_of(client, PLANS))

    request_user = client.get(PLANS).wsgi_request.user
    with CaptureQueriesContext(connection) as queries:
        assert (request_user.name, str(request_user.phone)) == (user.name, str(user.phone))
        assert request_user.credit == user.credit
    assert len(queries.captured_queries) == 1


def test_a_password_reset_cuts_a_cached_token_off_at_once(api_client, user, cached):
    client = client_for(user)
    assert client.get(PLANS).status_code == 200
    assert client.get(PLANS).status_code == 200  # from the cache now

    api_client.post("/api/v1/auth/password-reset/", {"phone": str(user.phone)})
    confirmed = api_client.post(
        "/api/v1/auth/password-reset/confirm/",
        {
            "phone": str(user.phone),
            "otp": last_code(str(user.phone)),
            "new_password": "brand-new-secret-99",
        },
    )
    assert confirmed.status_code == 200

    refused = client.get(PLANS)
    assert refused.status_code == 401
    assert refused.json()["code"] in {"password_changed", "token_not_valid"}
    # A token issued for the new password works.
    assert client_for_password(user, "brand-new-secret-99").get(PLANS).status_code == 200


def client_for_password(user: User, password: str) -> ApiClient:
    client = ApiClient()
    token = login(client, str(user.phone), password)["access"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_deactivation_in_the_admin_cuts_a_cached_token_off_at_once(client, user, cached):
    customer = client_for(user)
    assert customer.get(PLANS).status_code == 200
    assert customer.get(PLANS).status_code == 200  # from the cache now
    admin = User.objects.create_superuser("+8801700000099", "admin-secret-99", name="Admin")
    client.force_login(admin)

    page = client.get(f"/admin/accounts/user/{user.pk}/change/")
    data = _admin_form_data(page)
    data["is_active"] = ""  # unticked
    response = client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    user.refresh_from_db()
    assert not user.is_active

    refused = customer.get(PLANS)
    assert refused.status_code == 401
    assert refused.json()["code"] == "user_inactive"


def test_a_deleted_account_is_refused_at_once(user, cached):
    client = client_for(user)
    client.get(PLANS)
    client.get(PLANS)

    user.phones.all().delete()
    user.delete()

    assert client.get(PLANS).status_code == 401


def test_a_request_that_read_the_old_row_cannot_cache_it_again(user, cached):
    client = client_for(user)
    client.get(PLANS)
    key = _auth_key(user.pk)
    assert isinstance(cache.get(key), dict)

    user.is_staff = True
    user.save()  # forgets the entry, and keeps it out for FORGET_SECONDS

    assert cache.get(key) == "forgotten"
    # Meanwhile every request reads the account and leaves the marker in place.
    assert reads_the_user(queries_of(client, PLANS))
    assert cache.get(key) == "forgotten"
    assert FORGET_SECONDS > 0
    # Once the marker has expired, the new row is cached.
    cache.delete(key)
    client.get(PLANS)
    entry = cache.get(key)
    assert entry["values"][entry["fields"].index("is_staff")] is True


def _admin_form_data(page) -> dict:
    """The admin change form's fields as the page shows them, inlines included."""
    data = {}
    form = page.context["adminform"].form
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if field.disabled or name == "password":
            continue
        if isinstance(value, bool):
            data[name] = "on" if value else ""
        elif isinstance(value, list | tuple):
            data[name] = [getattr(v, "pk", v) for v in value]
        elif value is not None:
            data[name] = str(getattr(value, "pk", value))
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management.initial.get(name, "")
        for inline_form in formset.formset.forms:
            for name, field in inline_form.fields.items():
                value = inline_form.initial.get(name, field.initial)
                if isinstance(value, bool):
                    if value:
                        data[f"{inline_form.prefix}-{name}"] = "on"
                elif value is not None:
                    data[f"{inline_form.prefix}-{name}"] = str(getattr(value, "pk", value))
    return data
