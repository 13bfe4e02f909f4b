from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from . import checks, schema  # noqa: F401  (register the deploy checks, the OpenAPI auth)
