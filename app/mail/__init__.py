"""Outgoing mail, for anything that writes to a person (the outbox's messages; account
emails): a `Mail` (to, subject, text, optional HTML, locale), turned into a MIME message
from MAIL_FROM and handed to a sender: SMTP when SMTP_URL is set, else the log.

It knows nothing of who the recipient is or why the mail goes; callers decide that.
"""

from app.mail.message import Mail, build_message, message_id_for
from app.mail.senders import LogSender, Sender, SendFailed, SmtpSender, SmtpServer, sender_for

__all__ = [
    "LogSender",
    "Mail",
    "SendFailed",
    "Sender",
    "SmtpSender",
    "SmtpServer",
    "build_message",
    "message_id_for",
    "sender_for",
]
