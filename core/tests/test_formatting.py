# ruff: noqa: RUF001  (Bengali digit zero, U+09E6, is meant: not the Latin letter O)

from datetime import UTC, date, datetime
from decimal import Decimal

from django.test import override_settings
from django.utils import translation

from core.exceptions import InsufficientCredit
from core.formatting import format_date, format_money, format_number


def test_money_in_english_has_two_decimals_and_thousands_groups():
    assert format_money(Decimal("300"), "en") == "300.00"
    assert format_money(Decimal("1234567.5"), "en") == "1,234,567.50"


def test_money_in_bengali_has_bengali_digits_and_the_indian_grouping():
    assert format_money(Decimal("300"), "bn") == "৩০০.০০"
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


def test_amounts_in_error_messages_are_written_for_the_language():
    refusal = {"needed": Decimal("1200"), "balance": Decimal("1000")}

    with translation.override("en"):
        english = InsufficientCredit(**refusal).message
    with translation.override("bn"):
        bengali = InsufficientCredit(**refusal).message

    assert english == "Your credit (1,000.00) does not cover 1,200.00. Please top up."
    assert bengali.startswith("আপনার ক্রেডিট (১,০০০.০০) দিয়ে ১,২০০.০০ পরিশোধ করা যাবে না।")
