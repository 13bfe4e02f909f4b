"""
The documentation tells the truth.

docs/api.md against the OpenAPI schema, the registry of error classes and the server's real
answers; the README's links, commands and settings; and the README's walk-through, run as
written in a shell against a fresh development server.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import get_commands
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

import config.urls  # noqa: F401  (loads every app's views, so every error class is defined)
from accounts.models import User
from core.exceptions import ApplicationError, error_classes

ROOT = Path(settings.BASE_DIR)
README = ROOT / "README.md"
API_DOC = ROOT / "docs" / "api.md"
API_PREFIX = "/api/v1/"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# --- Reading the documents ---------------------------------------------------------------------

_METHOD = "|".join(METHODS)
# "### POST auth/register/" or "### PUT or PATCH plans/{plan_id}/"
OPERATION_HEADING = re.compile(rf"^### ((?:{_METHOD})(?: or (?:{_METHOD}))*) (\S+)$")
# A fenced block and its info string: ```json Plan, ```sh walkthrough
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
ERROR_ROW = re.compile(r"^\| `([a-z_]+)` \| (\d{3}) \|", re.MULTILINE)


def _paragraph(text: str, label: str) -> str | None:
    """The paragraph of ``text`` that starts with ``label:`` (up to the next blank line)."""
    match = re.search(rf"^{label}:(.*?)(?:\n\n|\Z)", text, re.MULTILINE | re.DOTALL)
    return match.group(1) if match else None


def _names(paragraph: str) -> set[str]:
    return set(re.findall(r"`([a-z][a-z_]*)`", paragraph))


def documented_operations() -> dict[tuple[str, str], str]:
    """(method, full path) of each operation heading of docs/api.md, with its section's text."""
    operations: dict[tuple[str, str], str] = {}
    sections = re.split(r"^(?=#{1,3} )", API_DOC.read_text(), flags=re.MULTILINE)
    for section in sections:
        heading, _, body = section.partition("\n")
        match = OPERATION_HEADING.match(heading)
        if match:
            for method in match.group(1).split(" or "):
                key = (method, API_PREFIX + match.group(2))
                assert key not in operations, f"{key} is documented twice"
                operations[key] = body
    return operations


def documented_objects(text: str) -> dict[str, Any]:
    """The ```json <Name> examples of a document, parsed."""
    objects = {}
    for info, body in FENCE.findall(text):
        words = info.split()
        if len(words) == 2 and words[0] == "json":
            objects[words[1]] = json.loads(body)
    return objects


def documented_errors() -> set[tuple[str, int]]:
    return {(code, int(status)) for code, status in ERROR_ROW.findall(API_DOC.read_text())}


# --- The schema --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def schema_operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method.upper() in METHODS
    }


def _component(schema: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    return schema["components"]["schemas"][reference["$ref"].rsplit("/", 1)[1]]


def request_fields(schema: dict[str, Any], operation: dict[str, Any]) -> set[str] | None:
    body = operation.get("requestBody")
    if body is None:
        return None
    return set(_component(schema, body["content"]["application/json"]["schema"])["properties"])


# --- docs/api.md against the schema ------------------------------------------------------------


def test_api_doc_documents_every_operation_of_the_schema_and_no_other(schema):
    documented = set(documented_operations())
    served = set(schema_operations(schema))

    assert served - documented == set(), "operations of the schema missing from docs/api.md"
    assert documented - served == set(), "operations in docs/api.md that the schema lacks"


def test_api_doc_gives_each_operation_its_body_fields_success_status_and_query(schema):
    documented = documented_operations()
    for key, operation in schema_operations(schema).items():
        section = documented[key]
        fields = request_fields(schema, operation)
        body = _paragraph(section, "Body")
        if fields is None:
            assert body is None, f"{key}: takes no body, but docs/api.md lists one"
        else:
            assert body is not None, f"{key}: docs/api.md gives no Body: line"
            assert _names(body) == fields, f"{key}: body fields differ from the schema"

        answer = _paragraph(section, "Answer")
        assert answer is not None, f"{key}: docs/api.md gives no Answer: line"
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert re.search(r"\d{3}", answer).group() in success, f"{key}: success status"

        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        listed = _names(_paragraph(section, "Query") or "")
        assert query <= listed, f"{key}: query parameters missing from docs/api.md"


def test_api_doc_refusals_have_the_status_of_their_code_and_of_the_schema(schema):
    errors = documented_errors()
    documented = documented_operations()
    for key, operation in schema_operations(schema).items():
        refusals = _paragraph(documented[key], "Refusals") or ""
        for status, code in re.findall(r"`(\d{3}) ([a-z_]+)`", refusals):
            assert (code, int(status)) in errors, f"{key}: {status} {code} is not in the table"
            assert status in operation["responses"], (
                f"{key}: docs/api.md says it answers {status} {code}; the schema does not list"
                f" {status} for it (add it to the view's error_statuses)"
            )


def test_api_doc_objects_have_the_keys_of_the_schema(schema):
    components = schema["components"]["schemas"]
    objects = documented_objects(API_DOC.read_text())
    checked = 0
    for name, example in objects.items():
        if name not in components:
            continue
        properties = components[name]["properties"]
        required = set(components[name].get("required", []))
        assert set(example) <= set(properties), f"{name}: keys the schema does not have"
        assert required <= set(example), f"{name}: required keys missing from the example"
        checked += 1
    assert checked >= 7


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "path"), [("Health", "/api/v1/health/"), ("Index", "/")])
def test_api_doc_examples_have_the_keys_the_server_answers(api_client, name, path):
    example = documented_objects(API_DOC.read_text())[name]

    response = api_client.get(path)

    assert response.status_code == 200
    assert set(response.json()) == set(example)


# --- Error codes -------------------------------------------------------------------------------


def _error_classes() -> Iterator[type[ApplicationError]]:
    pending = [ApplicationError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        # Conflict and the like only share a status: they inherit the base's code, unraised.
        if "code" in vars(cls) or cls.code != ApplicationError.code:
            yield cls


def test_api_doc_lists_every_error_class_with_its_status():
    documented = documented_errors()
    registry = {(cls.code, cls.status_code) for cls in _error_classes()}

    assert set(error_classes()) <= {code for code, _ in registry}
    assert registry - documented == set(), "error codes missing from docs/api.md (or status)"


PASSWORD = "a-long-secret"


def _login(client: Client, phone: str) -> str:
    response = client.post(
        "/api/v1/auth/token/", {"phone": phone, "password": PASSWORD}, "application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]["access"]


def _customer(client: Client) -> tuple[User, str]:
    user = User.objects.create_user(
        "+8801516100100", PASSWORD, name="Ikram Khan", phone_verified=True
    )
    return user, _login(client, "+8801516100100")


def _bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _password_changed(client: Client, monkeypatch: pytest.MonkeyPatch) -> Any:
    user, token = _customer(client)
    user.set_password("another-long-secret")
    user.save()
    return client.get("/api/v1/auth/me/", **_bearer(token))


def _user_not_found(client: Client, monkeypatch: pytest.MonkeyPatch) -> Any:
    user, token = _customer(client)
    user.delete()
    return client.get("/api/v1/auth/me/", **_bearer(token))


def _permission_denied(client: Client, monkeypatch: pytest.MonkeyPatch) -> Any:
    _, token = _customer(client)
    body = {"name": "Free", "amount": "1.00"}
    return client.post("/api/v1/plans/", body, "application/json", **_bearer(token))


def _throttled(client: Client, monkeypatch: pytest.MonkeyPatch) -> Any:
    body = {"phone": "01516100100"}
    client.post("/api/v1/auth/password-reset/", body, "application/json")
    return client.post("/api/v1/auth/password-reset/", body, "application/json")


def _server_error(client: Client, monkeypatch: pytest.MonkeyPatch) -> Any:
    from config import views

    def broken(self, request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views.HealthApi, "get", broken)
    return Client(raise_request_exception=False).get("/api/v1/health/")


# Codes the framework answers with (DRF, simplejwt, Django's error pages), not a class of
# core.exceptions: each is provoked here, so docs/api.md lists only codes a client can meet.
FRAMEWORK_ERRORS: dict[str, Callable[[Client, pytest.MonkeyPatch], Any]] = {
    "not_authenticated": lambda c, _: c.get("/api/v1/auth/me/"),
    "token_not_valid": lambda c, _: c.get("/api/v1/auth/me/", **_bearer("not.a.token")),
    "bad_authorization_header": lambda c, _: c.get("/api/v1/auth/me/", **_bearer("two parts")),
    "password_changed": _password_changed,
    "user_not_found": _user_not_found,
    "permission_denied": _permission_denied,
    "not_found": lambda c, _: c.get("/api/v1/no-such-endpoint/"),
    "method_not_allowed": lambda c, _: c.delete("/api/v1/health/"),
    "not_acceptable": lambda c, _: c.get("/api/v1/health/", HTTP_ACCEPT="text/html"),
    "unsupported_media_type": lambda c, _: c.post(
        "/api/v1/auth/register/", "phone=1", content_type="text/plain"
    ),
    "throttled": _throttled,
    "server_error": _server_error,
}


def test_api_doc_lists_exactly_the_framework_codes_this_test_provokes():
    registry = {cls.code for cls in _error_classes()}
    documented = {code for code, _ in documented_errors()}

    assert documented - registry <= set(FRAMEWORK_ERRORS), "codes no test can provoke"
    assert set(FRAMEWORK_ERRORS) <= documented


@pytest.mark.django_db
@pytest.mark.parametrize("code", sorted(FRAMEWORK_ERRORS))
def test_framework_error_code_answers_as_documented(client, monkeypatch, code):
    statuses = {status for documented, status in documented_errors() if documented == code}

    response = FRAMEWORK_ERRORS[code](client, monkeypatch)

    assert response["Content-Type"].startswith("application/json"), response.content
    assert response.json()["code"] == code
    assert statuses == {response.status_code}


# --- The README --------------------------------------------------------------------------------

TOP_LEVEL = {path.name for path in ROOT.iterdir()} - {".venv", ".git", "var"}


def _missing_references(document: Path) -> list[str]:
    """Relative link targets, and code spans naming a path in the repository, that don't exist."""
    text = document.read_text()
    links = {
        target.split("#", 1)[0]
        for target in re.findall(r"\]\(([^)\s]+)\)", text)
        if not re.match(r"[a-z]+:|#", target)
    }
    spans = {
        span
        for span in re.findall(r"`([\w./-]+)`", text)
        if span.startswith("../") or ("/" in span and span.split("/", 1)[0] in TOP_LEVEL)
    }
    missing = [link for link in links if link and not (document.parent / link).exists()]
    return missing + [span for span in spans if not (ROOT / span).exists()]


@pytest.mark.parametrize("document", [README, API_DOC], ids=lambda path: path.name)
def test_documents_refer_only_to_files_that_exist(document):
    text = document.read_text()

    assert _missing_references(document) == []
    assert "api-contract" not in text and "../shared" not in text


def test_readme_make_targets_and_manage_commands_exist():
    text = README.read_text()
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.MULTILINE))
    commands = set(get_commands())

    assert set(re.findall(r"\bmake (\w+)", text)) <= targets
    assert set(re.findall(r"manage\.py (\w+)", text)) <= commands


def test_readme_configuration_table_lists_every_setting_read_from_the_environment():
    source = "\n".join(
        path.read_text()
        for path in (ROOT / "config" / "settings").glob("*.py")
        if path.name != "test.py"
    )
    names = set(re.findall(r"env_\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    names |= {"DATABASE_URL", "CACHE_URL"}
    table = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]

    assert {name for name in names if f"`{name}`" not in table} == set()


def test_readme_endpoints_exist_in_the_schema(schema):
    served = {
        (method, re.sub(r"\{[^}]+\}", "{}", path)) for method, path in schema_operations(schema)
    }
    mentioned = re.findall(
        rf"`((?:{_METHOD})(?: or (?:{_METHOD}))*) ([a-z][\w/<>{{}}-]*/)`", README.read_text()
    )
    assert mentioned
    for methods, path in mentioned:
        full = API_PREFIX + re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)
        for method in methods.split(" or "):
            assert (method, full) in served, f"README mentions {method} {path}"


# --- The README's walk-through, run against a real server --------------------------------------

WALKTHROUGH_TIMEOUT = 60
CURL_LINE = re.compile(r"(?:^|[\s(|;])curl\s")
EXPECTATION = re.compile(r"^# (\d{3})(?: (.*))?$")

# Every curl of the walk-through records its status and body for the comparison below.
PRELUDE = r"""
set -euo pipefail
shopt -s inherit_errexit
curl() {
    local body status
    body=$(mktemp)
    status=$(command curl "$@" -sS -o "$body" -w '%{http_code}')
    cat "$body"
    printf '%s %s\n' "$status" "$(base64 -w0 < "$body")" >> "$CURL_LOG"
    rm -f "$body"
}
"""


def walkthrough_blocks() -> list[str]:
    return [body for info, body in FENCE.findall(README.read_text()) if info == "sh walkthrough"]


def walkthrough_expectations(blocks: list[str]) -> list[tuple[int, str | None]]:
    """For each curl of the walk-through, in order, the status and body its comment promises."""
    expectations: list[tuple[int, str | None]] = []
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    for index, line in enumerate(lines):
        if line.startswith("#") or not CURL_LINE.search(line):
            continue
        following = lines[index + 1 :]
        match = EXPECTATION.match(following[0]) if following else None
        assert match, f"the README says nothing about what this answers: {line}"
        body = match.group(2)
        for continuation in following[1:]:
            if not continuation.startswith("#  "):
                break
            body += continuation[1:].strip()
        expectations.append((int(match.group(1)), body))
    return expectations


def _body_matches(expected: str, actual: str) -> bool:
    """``…`` in the README's body stands for anything; JSON is compared in its compact form."""
    with contextlib.suppress(ValueError):
        actual = json.dumps(json.loads(actual), separators=(",", ":"), ensure_ascii=False)
    pattern = ".*?".join(re.escape(part) for part in expected.split("…"))
    return re.fullmatch(pattern, actual, re.DOTALL) is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(url: str, server: subprocess.Popen, log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the development server exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)  # polling for a condition, not waiting a guessed time
    raise AssertionError(f"no answer from {url} in {timeout} s:\n{log.read_text()}")


@pytest.fixture
def dev_server(tmp_path) -> Iterator[dict[str, str]]:
    """``make run`` on a fresh SQLite database, with the file SMS backend; its environment."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))},
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "config.tests.readme_settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CACHE_URL": "locmem://",
        "SMS_BACKEND": "file",
        "SMS_FILE_PATH": str(tmp_path / "sms"),
        "SCHEDULER_AUTOSTART": "false",  # the walk-through bills nothing later
        "LOG_LEVEL": "WARNING",
        "PORT": str(port),
        "CURL_LOG": str(tmp_path / "curl.log"),
    }
    # What `make run` does: migrate, load the demo plans, serve. The server starts meanwhile
    # (it reads no table before a request), and migrate and the demo plans share one process.
    prepare = (
        "import django; django.setup(); from django.core.management import call_command;"
        " call_command('migrate', interactive=False, verbosity=0); call_command('load_demo_plans')"
    )
    log = tmp_path / "server.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        subprocess.run(  # noqa: S603
            [sys.executable, "-c", prepare], cwd=ROOT, env=env, check=True, capture_output=True
        )
        _wait_until_serving(f"http://127.0.0.1:{port}/api/v1/health/", server, log)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_readme_walkthrough_answers_what_it_says(dev_server, tmp_path):
    blocks = walkthrough_blocks()
    expectations = walkthrough_expectations(blocks)
    assert len(blocks) >= 8 and len(expectations) >= 25
    # python3 in the README is whichever the reader has; here, the suite's own.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    env = {**dev_server, "PATH": f"{bin_dir}{os.pathsep}{dev_server['PATH']}"}

    script = PRELUDE + "\n".join(blocks)
    run = subprocess.run(  # noqa: S603
        ["bash", "-c", script],  # noqa: S607
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WALKTHROUGH_TIMEOUT,
    )

    log = Path(env["CURL_LOG"]).read_text().splitlines() if run.returncode == 0 else []
    assert run.returncode == 0, f"the walk-through stopped:\n{run.stdout}\n{run.stderr}"
    answers = []
    for line in log:
        status, _, body = line.partition(" ")
        answers.append((int(status), base64.b64decode(body).decode()))
    assert len(answers) == len(expectations)
    for number, ((status, expected), (got_status, got_body)) in enumerate(
        zip(expectations, answers, strict=True), start=1
    ):
        where = f"curl #{number} of the walk-through answered {got_status} {got_body}"
        assert got_status == status, where
        if expected:
            assert _body_matches(expected, got_body), f"{where}; the README says {expected}"


# --- Deploy checks -----------------------------------------------------------------------------

PROJECT_APPS = {"config", "core", "accounts", "plans", "subscriptions", "invoices"}
MANIFEST = "whitenoise.storage.CompressedManifestStaticFilesStorage"
PLAIN = "django.contrib.staticfiles.storage.StaticFilesStorage"


def _risky_settings(static_root: Path) -> list[dict[str, Any]]:
    """Production mistakes the project's deploy checks are there to catch, one at a time."""
    storages = {**settings.STORAGES}
    return [
        {"SMS_BACKEND": "console"},
        {"SMS_BACKEND": "locmem"},
        {"SMS_BACKEND": "no_such_package.sms.Backend"},
        {"CACHES": {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}},
        {"CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}},
        {
            "STORAGES": {**storages, "staticfiles": {"BACKEND": MANIFEST}},
            "STATIC_ROOT": static_root,
        },
        {
            "STORAGES": {**storages, "staticfiles": {"BACKEND": PLAIN}},
            "STATIC_ROOT": static_root,
            "WHITENOISE_USE_FINDERS": False,
        },
        {"SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"), "SECURE_HSTS_SECONDS": 0},
    ]


def test_readme_explains_every_deploy_check_of_the_project(tmp_path):
    from django.core.checks.registry import registry
    from django.test import override_settings

    ours = [
        check
        for check in registry.get_checks(include_deployment_checks=True)
        if check.__module__.split(".", 1)[0] in PROJECT_APPS
    ]
    found = set()
    for risky in _risky_settings(tmp_path):
        with override_settings(**risky):
            found |= {message.id for check in ours for message in check(app_configs=None)}
    readme = README.read_text()

    assert found, "no deploy check of the project fired for any of the mistakes above"
    assert {check_id for check_id in found if f"`{check_id}`" not in readme} == set()


def test_documents_give_the_plan_limits_of_the_model():
    from core.money import MAX_MONEY
    from plans.models import MAX_CYCLE_DAYS, MAX_CYCLES, MAX_TERM_DAYS, MIN_AMOUNT

    limits = [MIN_AMOUNT, MAX_MONEY, MAX_CYCLE_DAYS, MAX_CYCLES, MAX_TERM_DAYS]
    for document in (README, API_DOC):
        text = document.read_text()
        assert [limit for limit in limits if str(limit) not in text] == [], document.name
