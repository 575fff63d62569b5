"""Where mail goes: `LogSender` (development: it logs that a mail went, not what it said)
or `SmtpSender` (aiosmtplib), chosen by whether SMTP_URL is set."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.errors import MessageError
from email.message import EmailMessage
from typing import Literal, Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from app.mail.message import Mail, build_message, domain_of
from app.settings import Settings

log = logging.getLogger(__name__)


class SendFailed(Exception):
    """A mail did not go. `permanent`: sending it again will not help (the server refused
    the recipient or the message for good). `reason` is short and holds no secret, no
    address and no content: it may be stored and logged."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:200]
        self.permanent = permanent


def _message(mail: Mail, sender: str) -> EmailMessage:
    try:
        return build_message(mail, sender=sender)
    except (ValueError, MessageError):
        raise SendFailed("the address or a header cannot be written", permanent=True) from None


class Sender(Protocol):
    async def send(self, mail: Mail) -> None:
        """Send `mail`, or raise SendFailed."""


class LogSender:
    """Development: a line in the log for each mail, with its Message-ID and the
    recipient's domain only (no address, subject or body)."""

    def __init__(self, *, sender: str) -> None:
        self.sender = sender

    async def send(self, mail: Mail) -> None:
        message = _message(mail, self.sender)
        log.info(
            "mail logged, not sent (SMTP_URL is unset): %s to a recipient at %s, %s, %d characters",
            message["Message-ID"],
            domain_of(mail.to),
            "text and HTML" if mail.html is not None else "text",
            len(mail.text),
        )


@dataclass(frozen=True, slots=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """smtp://[user:password@]host[:port] (port 25 by default; STARTTLS per setting) or
        smtps://... (TLS from the first byte, port 465 by default)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
        use_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if use_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
        )


class SmtpSender:
    """One SMTP conversation per mail, bounded by `timeout` seconds."""

    def __init__(
        self,
        server: SmtpServer,
        *,
        sender: str,
        starttls: Literal["auto", "require", "off"] = "auto",
        timeout: float = 30.0,
    ) -> None:
        self.server = server
        self.sender = sender
        self.starttls = starttls
        self.timeout = timeout

    async def send(self, mail: Mail) -> None:
        message = _message(mail, self.sender)
        start_tls = None if self.starttls == "auto" else self.starttls == "require"
        try:
            await aiosmtplib.send(
                message,
                hostname=self.server.hostname,
                port=self.server.port,
                username=self.server.username,
                password=self.server.password,
                use_tls=self.server.use_tls,
                start_tls=False if self.server.use_tls else start_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = sorted({refused.code for refused in error.recipients})
            raise SendFailed(
                f"recipient refused ({', '.join(map(str, codes))})",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            # A refused recipient or message for good (5xx) is not retried; a 5xx to the
            # sign-in or the sender names a configuration to fix, after which retries go.
            permanent = error.code >= 500 and isinstance(
                error, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError
            )
            raise SendFailed(f"{type(error).__name__} {error.code}", permanent=permanent) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # The server's name and the URL stay out: the URL may carry a password.
            raise SendFailed(f"{type(error).__name__}: could not reach the mail server") from None


def sender_for(settings: Settings) -> Sender:
    """SMTP when SMTP_URL is set, else the log."""
    if settings.smtp_url:
        return SmtpSender(
            SmtpServer.from_url(settings.smtp_url),
            sender=settings.mail_from,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    return LogSender(sender=settings.mail_from)
