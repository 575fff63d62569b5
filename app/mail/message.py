"""A mail and the MIME message it becomes: plain text, and HTML as its alternative."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from app.core import clock


@dataclass(frozen=True, slots=True)
class Mail:
    """One mail to one address. `locale` becomes Content-Language; `message_id`, when
    given, is the Message-ID (the same for every attempt at one message, so a receiving
    system recognises a resend)."""

    to: str
    subject: str
    text: str
    html: str | None = None
    locale: str | None = None
    message_id: str | None = None


def domain_of(address: str) -> str:
    """The domain of an address (`Name <user@example.com>` or `user@example.com`)."""
    _, email = parseaddr(address)
    domain = email.rpartition("@")[2].strip().lower()
    return domain or "localhost"


def message_id_for(key: str, *, sender: str) -> str:
    """A Message-ID derived from `key` (an outbox key, say) in the sender's domain: the
    same key always gives the same id, and the id does not show the key."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain_of(sender)}>"


def build_message(mail: Mail, *, sender: str) -> EmailMessage:
    """The MIME message: multipart/alternative when there is HTML, else plain text."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = Address(addr_spec=mail.to)
    # A header never breaks: a line break in a subject would start a new header.
    message["Subject"] = " ".join(mail.subject.split())
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = mail.message_id or make_msgid(domain=domain_of(sender))
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    # After the content: setting it drops every Content-* header set before.
    if mail.locale:
        message["Content-Language"] = mail.locale
    return message
