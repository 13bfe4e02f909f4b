"""Events other apps listen to; accounts never imports them."""

from django.dispatch import Signal

# Sent after credit was added to a customer (a top-up or a positive adjustment) and saved.
# Arguments: ``user_id`` (int), ``transaction`` (CreditTransaction), ``now`` (its time).
# The billing engine settles the customer's suspended subscriptions when it hears it.
credit_added = Signal()
