from typing import Any

from django.core.management.base import BaseCommand

from core.checks import refuse_to_start_on_errors
from invoices import scheduler


class Command(BaseCommand):
    help = (
        "Run the invoice scheduler in the foreground (production). Bills what was missed, keeps "
        "one job per live subscription, and stands by while another scheduler holds the lock."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Like the web entry points: with DEBUG off, a deployment mistake stops it here.
        refuse_to_start_on_errors()
        self.stdout.write("Invoice scheduler starting (Ctrl+C or SIGTERM to stop).")
        scheduler.run_foreground()
        self.stdout.write("Invoice scheduler stopped.")
