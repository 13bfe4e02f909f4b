from typing import Any

from django.core.management.base import BaseCommand

from plans.services import plans_load_demo


class Command(BaseCommand):
    help = "Create seed 000's three demo plans if they are missing (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        for plan, created in plans_load_demo():
            state = "created" if created else "already there"
            self.stdout.write(f"{plan.name}: {state}")
