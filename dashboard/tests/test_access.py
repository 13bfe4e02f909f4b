"""Only staff reach the dashboard; everyone else is sent to the admin's login, which refuses
customers. The branding comes from settings."""

from __future__ import annotations

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

from .conftest import STAFF_PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"] == LOGIN
    login = client.get(LOGIN).content.decode()
    assert 'name="password"' in login
    assert "Revenue collected" not in login


def test_a_customer_with_a_session_is_sent_to_the_login_page(client):
    client.force_login(UserFactory())

    response = client.get("/admin/?days=7")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_customer_with_a_jwt_is_sent_to_the_login_page(client):
    customer = UserFactory()
    access = str(RefreshToken.for_user(customer).access_token)

    response = client.get("/admin/", HTTP_AUTHORIZATION=f"Bearer {access}")

    assert response.status_code == 302
    assert response["Location"] == LOGIN


def test_a_customer_cannot_log_in_to_the_admin(client):
    customer = UserFactory()

    response = client.post(LOGIN, {"username": str(customer.phone), "password": DEFAULT_PASSWORD})

    assert response.status_code == 200  # the form again, with its error
    assert b"staff account" in response.content
    assert client.get("/admin/").status_code == 302


def test_staff_log_in_and_land_on_the_dashboard(client, staff):
    response = client.post(
        LOGIN, {"username": str(staff.phone), "password": STAFF_PASSWORD}, follow=True
    )

    assert response.redirect_chain == [("/admin/", 302)]
    page = response.content.decode()
    assert 'id="dashboard"' in page
    assert "Revenue collected per day" in page
    assert 'id="content-main"' in page  # the admin's sections under it


def test_the_branding_comes_from_settings(client, staff, settings):
    settings.ADMIN_SITE_HEADER = "Globalnet operations"
    settings.ADMIN_SITE_TITLE = "Globalnet admin"
    settings.ADMIN_INDEX_TITLE = "How the business is doing"
    client.force_login(staff)

    page = client.get("/admin/").content.decode()
    login = client.get("/admin/login/").content.decode()  # staff: redirected; read it anyway

    assert "<title>How the business is doing | Globalnet admin</title>" in page
    assert 'id="site-name"><a href="/admin/">Globalnet operations</a>' in page
    assert "<h1>How the business is doing</h1>" in page
    assert "Django administration" not in page + login


def test_the_default_branding_is_not_djangos(client, staff):
    client.force_login(staff)

    page = client.get("/admin/").content.decode()

    assert "<title>Dashboard | Billing admin</title>" in page
    assert "Subscription billing</a>" in page
    client.logout()
    assert "Subscription billing" in client.get(LOGIN).content.decode()
