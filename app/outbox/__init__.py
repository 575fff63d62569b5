"""The outbox: messages to customers beyond the inbox (email), written in the transaction
of their cause with a unique key per cause, and delivered afterwards by the worker.

Other features use only the names below:
- `enqueue(key=, customer_id=, subject=, text=, html=, locale=, channel=)`: queue one
  message (a repeat of its key is a no-op returning False), in the caller's transaction.
- `deliver_due(limit=)`: claim due messages and send them (the worker's part; see
  `delivery` for leases, retries and what is never sent twice).
- `purge_settled(older_than=)`: forget messages settled long ago (housekeeping).
- `privacy`: the customer's messages for their export, and their erasure.
"""

from app.outbox.delivery import RetryPolicy, deliver_due
from app.outbox.service import enqueue, purge_settled

__all__ = ["RetryPolicy", "deliver_due", "enqueue", "purge_settled"]
