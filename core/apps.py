from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Register the deploy checks, the OpenAPI auth, and the account cache's invalidation.
        from . import authentication, checks, schema  # noqa: F401
