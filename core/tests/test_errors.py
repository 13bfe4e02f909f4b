"""Every error leaves the API in one shape: {"message", "code", "errors"?}."""

import pytest
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver, resolve

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"message", "code", "errors", "data"}
    return body


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v1/nope", "/api/v2/auth/me/", "/api/"])
def test_unknown_api_routes_are_404_json(api_client, method, path):
    response = getattr(api_client, method)(path)

    assert_error_shape(response, 404, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/auth/register/", "/api/v1/auth/register"])
def test_wrong_method_is_405_json(api_client, path):
    response = api_client.get(path)

    body = assert_error_shape(response, 405, "method_not_allowed")
    assert "GET" in body["message"]
    assert "POST" in response["Allow"]


def test_malformed_json_is_400(api_client):
    response = api_client.generic(
        "POST", "/api/v1/auth/register/", "{not json", content_type="application/json"
    )

    assert_error_shape(response, 400, "parse_error")


def test_non_json_body_is_415(api_client):
    response = api_client.post(
        "/api/v1/auth/register/", "phone=1", content_type="application/x-www-form-urlencoded"
    )

    assert_error_shape(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "42", "null"])
def test_a_json_body_that_is_not_an_object_is_400(api_client, body):
    response = api_client.generic(
        "POST", "/api/v1/auth/token/", body, content_type="application/json"
    )

    errors = assert_error_shape(response, 400, "invalid")["errors"]
    assert errors


def test_validation_errors_name_the_fields(api_client):
    response = api_client.post("/api/v1/auth/register/", {"phone": "x"})

    body = assert_error_shape(response, 400, "invalid")
    assert set(body["errors"]) == {"phone", "name", "password"}
    assert body["message"].startswith("phone: ")


def test_authentication_errors_have_the_shape(api_client):
    assert_error_shape(api_client.get("/api/v1/auth/me/"), 401, "not_authenticated")


def test_throttling_errors_have_the_shape_and_retry_after(api_client, time_machine):
    time_machine.move_to("2026-06-01 12:00:00Z", tick=False)
    for _ in range(10):
        api_client.post("/api/v1/auth/token/", {"phone": "01516100100", "password": "x"})

    response = api_client.post("/api/v1/auth/token/", {"phone": "01516100100", "password": "x"})

    assert_error_shape(response, 429, "throttled")
    assert response["Retry-After"] == "60"


def test_unexpected_errors_are_json_500_without_debug(client, settings, monkeypatch):
    settings.DEBUG = False

    def boom(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("accounts.services.password_reset_request", boom)
    client.raise_request_exception = False

    response = client.post(
        "/api/v1/auth/password-reset/", {"phone": "01516100100"}, content_type="application/json"
    )

    assert_error_shape(response, 500, "server_error")


def _api_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _api_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            if route.startswith("api/") and "<" not in route and "^" not in route:
                yield "/" + route


API_ROUTES = sorted({route.rstrip("/") for route in _api_patterns()})


def test_every_api_route_is_listed():
    assert "/api/v1/auth/register" in API_ROUTES
    assert "/api/v1/health" in API_ROUTES
    assert len(API_ROUTES) >= 14


@pytest.mark.parametrize("route", API_ROUTES)
def test_every_api_route_answers_with_and_without_the_trailing_slash(route):
    assert resolve(route).func.__name__ == resolve(route + "/").func.__name__
    assert resolve(route).func.__name__ != "api_not_found"


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("post", "/api/v1/auth/register", {"phone": "01516100100", "name": "A", "password": "x"}),
        ("post", "/api/v1/auth/verify-otp", {"phone": "01516100100", "otp": "123456"}),
        ("post", "/api/v1/auth/resend-otp", {"phone": "01516100100"}),
        ("post", "/api/v1/auth/token", {"phone": "01516100100", "password": "x"}),
        ("post", "/api/v1/auth/refresh", {"refresh": "x"}),
        ("post", "/api/v1/auth/logout", {"refresh": "x"}),
        ("get", "/api/v1/auth/me", None),
        ("post", "/api/v1/auth/add-phone-no", {"phone": "x"}),
        ("post", "/api/v1/auth/make-primary-phone", {"phone": "x"}),
        ("post", "/api/v1/auth/password-reset", {"phone": "x"}),
        ("post", "/api/v1/auth/password-reset/confirm", {"phone": "x"}),
        ("get", "/api/v1/health", None),
        ("put", "/api/v1/auth/me", {}),
    ],
)
def test_both_spellings_of_a_route_answer_alike_without_redirects(
    api_client, method, path, payload
):
    bare = getattr(api_client, method)(path, payload)
    cache.clear()  # the OTP cooldown would otherwise answer the second request
    slashed = getattr(api_client, method)(path + "/", payload)

    assert bare.status_code == slashed.status_code
    assert bare.status_code not in {301, 302, 307, 308, 404}
    assert bare.json().get("code") == slashed.json().get("code")


def test_a_model_error_about_no_one_field_reads_as_non_field_errors() -> None:
    from django.core.exceptions import ValidationError as DjangoValidationError

    from core.exceptions import exception_handler

    response = exception_handler(DjangoValidationError({"__all__": ["Too long."]}), {})
    assert response.status_code == 400
    assert response.data == {
        "message": "Too long.",
        "code": "invalid",
        "errors": {"non_field_errors": ["Too long."]},
    }
