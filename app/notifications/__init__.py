"""Notifications: the customer's inbox and the messages that fill it, and the live balance
pushed to subscribers."""
