from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from dashboard.demo import demo_business_load


class Command(BaseCommand):
    help = (
        "Add demo customers who bought the demo plans and lived on them over the past days "
        "(top-ups, pauses, cancellations, suspensions), so the admin's dashboard has a story."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--customers", type=int, default=40)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--seed", type=int, default=14)

    def handle(self, *args: Any, **options: Any) -> None:
        demo = demo_business_load(
            now=timezone.now(),
            customers=options["customers"],
            days=options["days"],
            seed=options["seed"],
        )
        self.stdout.write(f"{demo.customers} demo customers over {demo.days} days")
