"""Money limits every app shares."""

from decimal import Decimal

# The largest amount a money column (``max_digits=12, decimal_places=2``) holds: the most a
# balance, a top-up or a plan's price may be.
MAX_MONEY = Decimal("9999999999.99")
