"""OpenAPI (drf-spectacular) glue."""

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class JWTScheme(SimpleJWTScheme):
    target_class = "core.authentication.JWTAuthentication"
    name = "jwtAuth"


def drop_slashless_duplicates(endpoints: list[tuple[str, Any, str, Any]], **kwargs: Any) -> list:
    """Every route also answers without its trailing slash; document each operation once."""
    return [endpoint for endpoint in endpoints if endpoint[0].endswith("/")]
