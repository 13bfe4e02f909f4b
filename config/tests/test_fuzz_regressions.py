"""What schemathesis found, pinned down so it stays fixed."""

import json
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.credit import credit_top_up
from accounts.tests.factories import UserFactory
from conftest import ApiClient
from invoices import billing
from plans.models import Plan
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_client(db):
    customer = UserFactory()
    credit_top_up(user_id=customer.pk, amount=Decimal("1000"))
    plan = Plan.objects.create(name="Bronze", amount="500.00")
    billing.subscription_purchase(user_id=customer.pk, plan_id=plan.pk)
    client = ApiClient()
    client.force_authenticate(customer)
    client.plan = plan
    return client


def _routes(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and (prefix + str(entry.pattern)).startswith("api/v1"):
            yield "/" + (prefix + str(entry.pattern)).replace("<id:plan_id>", "1").replace(
                "<id:subscription_id>", "1"
            ).replace("<id:invoice_id>", "1")


@pytest.mark.parametrize("path", sorted({r for r in _routes() if r.endswith("/")}))
def test_options_never_fails(customer_client, path):
    # OPTIONS /plans/<id>/ used to be a 500: DRF's metadata looked the plan up by "pk".
    response = customer_client.options(path)

    assert response.status_code < 500


@pytest.mark.parametrize(
    "query",
    [
        {"page_size": "null"},
        {"page_size": "0"},
        {"page_size": "-5"},
        {"page_size": "2.5"},
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/plans/",
        "/api/v1/invoices/",
        "/api/v1/subscriptions/",
        "/api/v1/credit/transactions/",
    ],
)
def test_a_malformed_page_size_is_400(customer_client, path, query):
    response = customer_client.get(path, query)

    assert response.status_code == 400
    assert "page_size" in response.json()["errors"]


def test_a_page_size_above_the_maximum_is_capped(customer_client):
    response = customer_client.get("/api/v1/plans/", {"page_size": "1000"})

    assert response.status_code == 200


@pytest.mark.parametrize("value", ["null", "maybe", ""])
def test_a_malformed_archived_flag_is_400(customer_client, value):
    response = customer_client.get("/api/v1/plans/", {"archived": value})

    assert response.status_code == 400
    assert "archived" in response.json()["errors"]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/subscriptions/", {"status": ""}),
        ("/api/v1/invoices/", {"status": ""}),
        ("/api/v1/invoices/", {"issued_before": ""}),
        ("/api/v1/invoices/statistics/", {"issued_after": " "}),
    ],
)
def test_an_empty_filter_is_400(customer_client, path, query):
    response = customer_client.get(path, query)

    assert response.status_code == 400
    assert set(query) <= set(response.json()["errors"])


@pytest.mark.parametrize(
    "subscription", ["-2.4834250587774374e+190", "1.5", "0", "99999999999999999999"]
)
def test_an_impossible_subscription_filter_is_400(customer_client, subscription):
    # A huge number used to reach the database and overflow: a 500.
    response = customer_client.get("/api/v1/invoices/", {"subscription": subscription})

    assert response.status_code == 400


@pytest.mark.parametrize(
    "moment",
    [
        "8811-03-14T23:48:51.8+16:09",  # PostgreSQL refused the +16:09 offset: a 500
        "9999-12-31T23:30:00-05:00",  # past year 9999 in UTC
        "0001-01-01T00:10:00+01:00",  # before year 1 in UTC
    ],
)
def test_datetime_filters_with_extreme_offsets(customer_client, moment):
    response = customer_client.get("/api/v1/invoices/", {"issued_after": moment})

    assert response.status_code in {200, 400}


def test_a_datetime_filter_far_off_utc_still_filters(customer_client):
    response = customer_client.get(
        "/api/v1/invoices/", {"issued_after": "2000-01-01T00:00:00+16:09"}
    )

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_creating_a_plan_is_documented_as_201(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert "201" in schema["paths"]["/api/v1/plans/"]["post"]["responses"]


def test_error_responses_are_documented_in_the_error_shape(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    purchase = schema["paths"]["/api/v1/purchase-plan/"]["post"]["responses"]

    assert {"201", "400", "401", "402", "404", "409"} <= set(purchase)
    assert purchase["402"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


# --- Bad input never reaches a 500 (issue 9, section 3) ----------------------------------------


def _json_operations():
    """Every operation that takes a JSON body, as the schema documents it."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "requestBody" in operation:
                yield method, path


JSON_OPERATIONS = sorted(_json_operations())
PHONE_OPERATIONS = [
    ("post", "/api/v1/auth/register/", {"name": "Ann", "password": "correct-horse-42"}),
    ("post", "/api/v1/auth/verify-otp/", {"otp": "123456"}),
    ("post", "/api/v1/auth/resend-otp/", {}),
    ("post", "/api/v1/auth/token/", {"password": "correct-horse-42"}),
    ("post", "/api/v1/auth/password-reset/", {}),
    ("post", "/api/v1/auth/password-reset/confirm/", {"otp": "123456", "password": "x"}),
    ("post", "/api/v1/auth/add-phone-no/", {}),
    ("post", "/api/v1/auth/make-primary-phone/", {}),
]
LONE_SURROGATE = '"\\ud800"'  # valid JSON syntax, but no Unicode text


@pytest.fixture
def superuser_client(customer_client):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client = ApiClient()
    client.force_authenticate(superuser)
    client.plan = customer_client.plan
    client.subscription = customer_client.plan.subscriptions.get()
    client.endpoint = WebhookEndpoint.objects.create(
        url="https://93.184.215.14/hooks", secret="whsec_AAAA"
    )
    return client


def _send(client, method, path, body, content_type="application/json", **headers):
    if hasattr(client, "subscription"):
        path = path.replace("{plan_id}", str(client.plan.pk))
        path = path.replace("{subscription_id}", str(client.subscription.pk))
        path = path.replace("{endpoint_id}", str(client.endpoint.pk))
    return client.generic(method.upper(), path, body, content_type=content_type, **headers)


def _error(response, status, code):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    return body


def test_every_json_operation_is_listed():
    assert ("post", "/api/v1/auth/register/") in JSON_OPERATIONS
    assert ("post", "/api/v1/credit/top-up/") in JSON_OPERATIONS
    assert len(JSON_OPERATIONS) >= 15


@pytest.mark.parametrize(("method", "path", "fields"), PHONE_OPERATIONS)
def test_a_lone_surrogate_in_the_phone_is_400_invalid(customer_client, method, path, fields):
    # The per-phone throttle hashed the raw value before validation: UnicodeEncodeError, a 500.
    body = (
        "{"
        + ", ".join([f'"phone": {LONE_SURROGATE}'] + [f'"{k}": "{v}"' for k, v in fields.items()])
        + "}"
    )

    response = _send(customer_client, method, path, body)

    body = _error(response, 400, "invalid")
    assert list(body["errors"]) == ["phone"]
    assert body["message"].startswith("phone: Not valid text")


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
def test_a_lone_surrogate_in_any_string_is_400_invalid(superuser_client, method, path):
    # On PostgreSQL a lone surrogate in a name or a note failed in the database: a 500.
    body = '{"name": "Gold\\udfff", "note": "x"}'

    response = _send(superuser_client, method, path, body)

    assert _error(response, 400, "invalid")["errors"] == {
        "name": ["Not valid text: it contains an unpaired UTF-16 surrogate (\\ud800 to \\udfff)."]
    }


def test_a_lone_surrogate_deep_inside_is_named_by_its_field(superuser_client):
    body = '{"plan": {"tags": ["a", {"\\udc00": 1}]}}'

    response = _send(superuser_client, "post", "/api/v1/purchase-plan/", body)

    assert list(_error(response, 400, "invalid")["errors"]) == ["plan"]


def test_a_lone_surrogate_in_a_key_is_400_without_echoing_it(superuser_client):
    response = _send(superuser_client, "post", "/api/v1/plans/", '{"\\ud800": "x"}')

    assert list(_error(response, 400, "invalid")["errors"]) == ["non_field_errors"]


def test_a_surrogate_pair_is_ordinary_text(api_client):
    # "\ud83d\ude00" is one character (an emoji), not a lone surrogate.
    body = '{"phone": "01516100100", "name": "Ann \\ud83d\\ude00", "password": "correct-horse-42"}'

    response = _send(api_client, "post", "/api/v1/auth/register/", body)

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
def test_json_nested_a_thousand_levels_deep_is_400_parse_error(superuser_client, method, path):
    # json recursed until the interpreter's limit: RecursionError, a 500.
    body = '{"phone": ' + "[" * 1000 + "]" * 1000 + "}"

    response = _send(superuser_client, method, path, body)

    assert "nested more than 32 levels" in _error(response, 400, "parse_error")["message"]


def test_the_depth_limit_is_32_levels(api_client):
    def register(depth):
        return _send(api_client, "post", "/api/v1/auth/register/", "[" * depth + "]" * depth)

    assert register(32).json()["code"] == "invalid"  # a list, not an object: read, then refused
    assert register(33).json()["code"] == "parse_error"


@pytest.mark.parametrize("charset", ["zlib", "utf-16", "latin-1", "no-such-codec", ""])
def test_a_body_in_another_charset_than_utf8_is_415(api_client, charset):
    # DRF decoded with whatever codec the client named: charset=zlib inflated the body (a 500 on
    # garbage, a decompression bomb on purpose).
    response = _send(
        api_client,
        "post",
        "/api/v1/auth/token/",
        b"x\x9c\xab\xae\x05\x00\x01u\x00\xf9",
        content_type=f"application/json; charset={charset}",
    )

    _error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("charset", ["utf-8", "UTF8", "us-ascii"])
def test_utf8_and_ascii_charsets_are_read(api_client, charset):
    response = _send(
        api_client,
        "post",
        "/api/v1/auth/token/",
        '{"phone": "01516100100", "password": "x"}',
        content_type=f"application/json; charset={charset}",
    )

    _error(response, 401, "invalid_credentials")


def test_a_body_that_is_not_utf8_is_400_parse_error(api_client):
    response = _send(api_client, "post", "/api/v1/auth/token/", b'{"phone": "\xff"}')

    _error(response, 400, "parse_error")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_400_parse_error(superuser_client, constant):
    response = _send(
        superuser_client, "post", "/api/v1/credit/top-up/", f'{{"amount": {constant}}}'
    )

    _error(response, 400, "parse_error")


def test_a_body_over_the_upload_limit_is_413(api_client, settings):
    # DRF read JSON bodies of any size: DATA_UPLOAD_MAX_MEMORY_SIZE did not apply to them.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"phone": "01516100100", "password": "' + "x" * 1000 + '"}'

    response = _send(api_client, "post", "/api/v1/auth/token/", body)

    assert "1000 bytes" in _error(response, 413, "request_too_large")["message"]


def test_a_body_announced_over_the_upload_limit_is_413_before_it_is_read(api_client):
    response = _send(
        api_client, "post", "/api/v1/auth/token/", '{"phone": "1"}', CONTENT_LENGTH=str(10**20)
    )

    _error(response, 413, "request_too_large")


# --- Nothing outside the admin answers HTML ----------------------------------------------------


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.mark.parametrize("method", ["get", "head", "post", "options"])
@pytest.mark.parametrize("path", ["/api/v1/health/", "/api/v1/plans/", "/", "/admin-not"])
def test_an_unknown_host_is_400_json(api_client, debug, method, path):
    # Django answered its HTML "Bad Request (400)" page.
    response = getattr(api_client, method)(path, HTTP_HOST="attacker.example")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    if method != "head":
        assert response.json() == {
            "message": "This service does not answer to that Host header (see ALLOWED_HOSTS).",
            "code": "bad_request",
        }


@pytest.mark.parametrize("host", ["exa mple.com", "[::1", "example.com:port", "é.example"])
def test_a_malformed_host_is_400_json(api_client, debug, host):
    response = api_client.get("/api/v1/health/", HTTP_HOST=host)

    _error(response, 400, "bad_request")


def test_an_unknown_host_on_the_admin_keeps_django_s_page(client, settings):
    settings.DEBUG = False

    response = client.get("/admin/login/", HTTP_HOST="attacker.example")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/v1/plans/", "/api/v1/invoices/", "/api/v1/health/"])
def test_more_than_a_thousand_query_parameters_is_400_json(customer_client, debug, path):
    query = "&".join(f"p{n}=1" for n in range(1001))

    response = customer_client.get(f"{path}?{query}")

    body = _error(response, 400, "bad_request")
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in body["message"]


@pytest.mark.parametrize("method", ["get", "head"])
def test_the_index_points_to_the_docs(api_client, debug, method):
    response = getattr(api_client, method)("/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    if method == "get":
        body = response.json()
        assert body["docs"] == "/api/docs/"
        assert body["schema"] == "/api/schema/"
        assert api_client.get(body["health"]).status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_index_refuses_writes_in_json(api_client, method):
    _error(getattr(api_client, method)("/"), 405, "method_not_allowed")


@pytest.mark.parametrize("method", ["get", "head", "post", "options", "delete"])
@pytest.mark.parametrize("path", ["/favicon.ico", "/nope/", "/static/nope.css", "/apinope"])
def test_unknown_paths_outside_the_api_are_404_json(api_client, debug, method, path):
    # Django's HTML "Not Found" page (or its technical page with DEBUG on).
    response = getattr(api_client, method)(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    if method != "head":
        assert response.json()["code"] == "not_found"


def test_the_admin_keeps_its_html_404(admin_client, settings):
    settings.DEBUG = False

    response = admin_client.get("/admin/accounts/nope/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_an_unexpected_error_is_json_even_with_debug_on(client, settings, monkeypatch):
    settings.DEBUG = True
    monkeypatch.setattr("accounts.services.password_reset_request", _crash)
    client.raise_request_exception = False

    response = client.post(
        "/api/v1/auth/password-reset/", {"phone": "01516100100"}, content_type="application/json"
    )

    _error(response, 500, "server_error")


def _crash(**kwargs):
    raise RuntimeError("bug")


def test_a_csrf_failure_outside_the_admin_is_json(rf):
    from django.middleware.csrf import _get_failure_view

    response = _get_failure_view()(rf.post("/api/v1/anything/"), reason="CSRF cookie not set.")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "message": "CSRF verification failed: CSRF cookie not set.",
        "code": "permission_denied",
    }


def test_a_csrf_failure_in_the_admin_keeps_django_s_page(settings):
    from django.test import Client

    settings.DEBUG = False
    response = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "x"})

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("handler", "status", "code"),
    [
        ("core.views.bad_request", 400, "bad_request"),
        ("core.views.permission_denied", 403, "permission_denied"),
        ("core.views.page_not_found", 404, "not_found"),
    ],
)
def test_django_s_error_handlers_answer_json_outside_the_admin(rf, handler, status, code):
    from django.urls import get_resolver

    view = get_resolver().resolve_error_handler(status)
    assert f"{view.__module__}.{view.__name__}" == handler

    api = view(rf.get("/api/v1/plans/"), exception=Exception("x"))
    admin = view(rf.get("/admin/"), exception=Exception("x"))

    assert (api.status_code, api["Content-Type"]) == (status, "application/json")
    assert json.loads(api.content)["code"] == code
    assert (admin.status_code, admin["Content-Type"][:9]) == (status, "text/html")
