import re

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/health/", "/api/v1/health"])
def test_health_reports_database_and_scheduler(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "scheduler": "stopped",
        "billing_failures": 0,
    }


def test_health_reports_a_broken_database(api_client, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)

    response = api_client.get("/api/v1/health/")

    assert response.status_code == 503
    assert response.json()["database"] == "error"
    assert response.json()["status"] == "error"


def test_health_needs_no_token_and_ignores_a_bad_one(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer expired.or.bad")

    assert api_client.get("/api/v1/health/").status_code == 200


def test_openapi_schema_lists_every_accounts_operation(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for name in [
        "register", "verify-otp", "resend-otp", "token", "refresh", "logout", "me",
        "add-phone-no", "make-primary-phone", "password-reset", "password-reset/confirm",
    ]:  # fmt: skip
        assert f"/api/v1/auth/{name}/" in paths
    assert not any(not path.endswith("/") for path in paths)
    assert "jwtAuth" in schema["components"]["securitySchemes"]


def test_swagger_ui_is_served_with_local_assets(client):
    page = client.get("/api/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not served locally"
        assert client.get(asset).status_code == 200
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html
