"""The outbox: messages to customers beyond the inbox (email), written in the transaction
of their cause with a unique key per cause, and delivered afterwards by the worker.

Other features use only the names below:
- `enqueue(key=, customer_id=, subject=, text=, html=, locale=, channel=)`: queue one
  message (a repeat of its key is a no-op returning False), in the caller's transaction.
"""

from app.outbox.service import enqueue

__all__ = ["enqueue"]
