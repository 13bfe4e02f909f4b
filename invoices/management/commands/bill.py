from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from invoices.billing import bill_due, bill_due_count

PROGRESS_FROM = 100  # customers


class Command(BaseCommand):
    help = (
        "Bill every period start that is due (the catch-up after downtime): each missed period "
        "is processed once, in order. --at replays the clock to another moment."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--at",
            help="Bill as of this ISO 8601 datetime instead of now (naive: in TIME_ZONE).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = self._moment(options["at"])
        total = bill_due_count(now=now)
        self.stdout.write(f"Billing as of {now.isoformat()}: {total} customer(s) with periods due.")
        with tqdm(
            total=total, unit="customer", disable=total < PROGRESS_FROM, file=self.stderr
        ) as bar:
            report = bill_due(now=now, progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"Done. {report}"))
        if report.failed:
            self.stderr.write(
                self.style.WARNING(
                    f"Billing failed for {report.failed} customer(s); the others were billed. "
                    "The admin's billing failures say why; the next run retries them."
                )
            )

    @staticmethod
    def _moment(value: str | None):
        if not value:
            return timezone.now()
        try:
            moment = parse_datetime(value)
        except ValueError:
            moment = None
        if moment is None:
            raise CommandError(f"--at must be an ISO 8601 datetime, not {value!r}.")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment
