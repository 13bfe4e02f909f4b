"""Data for the HTTP benchmark; prints what the load generator needs as JSON."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from decimal import Decimal

from bench.common import setup_django

CUSTOMERS = 400  # buyers for one round: 400 x 25 plans = 10,000 (buyer, plan) pairs
PLANS_TO_BUY = 25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=CUSTOMERS, help="buyers to create")
    customers = parser.parse_args().customers
    setup_django()
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.credit import credit_top_up
    from accounts.models import User
    from invoices.billing import bill_due, subscription_purchase
    from plans.models import Plan
    from plans.services import plans_load_demo

    def token(user: User) -> str:
        return str(AccessToken.for_user(user))

    # Hashed once: hashing it for each of the 400 customers took minutes on a busy machine.
    password = make_password("bench-password-1")

    def customer(n: int) -> User:
        user = User.objects.create_user(
            f"+88017{n:08d}", None, name=f"Bench {n}", phone_verified=True
        )
        User.objects.filter(pk=user.pk).update(password=password)
        user.password = password  # the tokens carry a hash of it
        return user

    plans_load_demo()
    buyable = [
        Plan.objects.create(name=f"Bench plan {n}", amount=Decimal("1.00"))
        for n in range(PLANS_TO_BUY)
    ]

    # A customer with 1,000 invoices: a daily plan bought 999 days ago, caught up at once.
    history = customer(0)
    daily = Plan.objects.create(
        name="Daily", amount=Decimal("1.00"), payment_cycle=1, total_valid_months=1200
    )
    credit_top_up(user_id=history.pk, amount=Decimal("5000"))
    now = timezone.now()
    subscription_purchase(user_id=history.pk, plan_id=daily.pk, now=now - timedelta(days=999))
    bill_due(now=now)
    daily.archived_at = now  # keep the catalogue at the three demo plans + the bench plans
    daily.save()

    buyers = []
    for n in range(1, customers + 1):
        user = customer(n)
        credit_top_up(user_id=user.pk, amount=Decimal("1000000"))
        buyers.append(token(user))

    print(
        json.dumps(
            {
                "history_token": token(history),
                "invoices": history.invoices.count(),
                "buyer_tokens": buyers,
                "plan_ids": [plan.pk for plan in buyable],
            }
        )
    )


if __name__ == "__main__":
    main()
