from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "invoices"
    verbose_name = "Invoices"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the top-up settlement)
        from .scheduler import autostart

        autostart()
