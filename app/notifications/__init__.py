"""Notifications: the customer's inbox and the messages that fill it, and the live balance
pushed to subscribers.

Other features call `triggers` (service messages, inside their own transaction) and
`service.notify`; the worker calls `rules.run_scheduled_rules`."""

from app import ledger
from app.notifications import triggers

# Credits mature inside the ledger, wherever a wallet settles: the message joins that
# transaction without the ledger knowing of the inbox.
ledger.on_lots_matured(triggers.credits_matured)
