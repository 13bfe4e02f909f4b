from datetime import UTC, date, datetime
from decimal import Decimal

from django.test import override_settings

from core.formatting import format_date, format_money, format_number


def test_money_in_english_has_two_decimals_and_thousands_groups():
    assert format_money(Decimal("300"), "en") == "300.00"
    assert format_money(Decimal("1234567.5"), "en") == "1,234,567.50"


def test_money_in_bengali_has_bengali_digits_and_the_indian_grouping():
    assert format_money(Decimal("300"), "bn") == "৩০০.০০"  # noqa: RUF001
    assert format_money(Decimal("1234567.5"), "bn") == "১২,৩৪,৫৬৭.৫০"


def test_numbers_per_language():
    assert format_number(1234, "en") == "1,234"
    assert format_number(5, "bn") == "৫"
    assert format_number(1234, "bn") == "১,২৩৪"


def test_dates_per_language():
    assert format_date(date(2026, 12, 23), "en") == "23 Dec 2026"
    assert format_date(date(2026, 12, 23), "bn") == "২৩ ডিসে, ২০২৬"


@override_settings(TIME_ZONE="Asia/Dhaka")
def test_a_datetime_is_read_on_the_local_day():
    # 20:00 UTC on the 22nd is 02:00 on the 23rd in Dhaka.
    moment = datetime(2026, 12, 22, 20, 0, tzinfo=UTC)

    assert format_date(moment, "en") == "23 Dec 2026"
    assert format_date(moment, "bn") == "২৩ ডিসে, ২০২৬"
