"""Mail over SMTP (aiosmtplib) to a server on loopback: the message as it arrives, and how
refusals come back."""

from __future__ import annotations

import logging

import pytest

from app.mail import LogSender, Mail, SendFailed, SmtpSender, SmtpServer, message_id_for, sender_for
from app.settings import Settings
from tests.mail.mailbox import free_port, parts, running_mailbox

FROM = "Cashback <no-reply@mail.example>"


def smtp(url: str, **options: object) -> SmtpSender:
    return SmtpSender(SmtpServer.from_url(url), sender=FROM, timeout=5, **options)  # type: ignore[arg-type]


async def test_a_mail_arrives_with_its_text_html_language_and_message_id() -> None:
    mail = Mail(
        to="ana@example.com",
        subject="Your cashback is available",
        text="You have 5.00 USD to spend.",
        html="<p>You have <b>5.00 USD</b> to spend.</p>",
        locale="pt-BR",
        message_id=message_id_for("cause:42", sender=FROM),
    )
    with running_mailbox() as mailbox:
        await smtp(mailbox.url).send(mail)

    [received] = mailbox.received
    assert received.recipients == ["ana@example.com"]
    assert received.sender == "no-reply@mail.example"
    message = received.message
    assert message["Subject"] == "Your cashback is available"
    assert message["From"] == FROM
    assert message["Content-Language"] == "pt-BR"
    assert message["Message-ID"] == message_id_for("cause:42", sender=FROM)
    assert message.get_content_type() == "multipart/alternative"
    assert parts(message) == {
        "text/plain": "You have 5.00 USD to spend.",
        "text/html": "<p>You have <b>5.00 USD</b> to spend.</p>",
    }


async def test_a_mail_without_html_is_plain_text() -> None:
    with running_mailbox() as mailbox:
        await smtp(mailbox.url).send(Mail(to="ana@example.com", subject="Hi", text="Plain"))

    message = mailbox.received[0].message
    assert message.get_content_type() == "text/plain"
    assert parts(message) == {"text/plain": "Plain"}


def test_the_message_id_follows_the_key_and_hides_it() -> None:
    first = message_id_for("purchase:7:customer:3", sender=FROM)

    assert first == message_id_for("purchase:7:customer:3", sender=FROM)
    assert first != message_id_for("purchase:8:customer:3", sender=FROM)
    assert first.endswith("@mail.example>") and "purchase" not in first


async def test_the_user_and_password_of_the_url_sign_in() -> None:
    with running_mailbox() as mailbox:
        url = f"smtp://mailer:p%40ss%3Aword%2F1@127.0.0.1:{mailbox.port}"
        await smtp(url).send(Mail(to="ana@example.com", subject="Hi", text="t"))

    assert mailbox.logins == [("mailer", "p@ss:word/1")]
    assert len(mailbox.received) == 1


async def test_a_temporary_refusal_is_a_failure_worth_retrying() -> None:
    with running_mailbox(fail_first=1) as mailbox, pytest.raises(SendFailed) as failure:
        await smtp(mailbox.url).send(Mail(to="ana@example.com", subject="Hi", text="t"))

    assert failure.value.permanent is False
    assert "451" in failure.value.reason
    assert mailbox.received == []


async def test_a_refused_recipient_is_a_permanent_failure() -> None:
    with (
        running_mailbox(refused={"gone@example.com"}) as mailbox,
        pytest.raises(SendFailed) as failure,
    ):
        await smtp(mailbox.url).send(Mail(to="gone@example.com", subject="Hi", text="t"))

    assert failure.value.permanent is True
    assert "550" in failure.value.reason


async def test_a_wrong_password_is_retried_and_never_shown() -> None:
    with running_mailbox() as mailbox:
        url = f"smtp://mailer:wrong-secret@127.0.0.1:{mailbox.port}"
        with pytest.raises(SendFailed) as failure:
            await smtp(url).send(Mail(to="ana@example.com", subject="Hi", text="t"))

    assert failure.value.permanent is False
    assert "wrong-secret" not in failure.value.reason
    assert mailbox.received == []


async def test_an_unreachable_server_is_a_temporary_failure_without_the_url() -> None:
    url = f"smtp://mailer:hidden-secret@127.0.0.1:{free_port()}"

    with pytest.raises(SendFailed) as failure:
        await smtp(url).send(Mail(to="ana@example.com", subject="Hi", text="t"))

    assert failure.value.permanent is False
    assert "hidden-secret" not in failure.value.reason and "127.0.0.1" not in failure.value.reason


async def test_an_address_that_cannot_be_written_fails_for_good_before_any_connection() -> None:
    with pytest.raises(SendFailed) as failure:
        await smtp(f"smtp://127.0.0.1:{free_port()}").send(
            Mail(to="not an address", subject="Hi", text="t")
        )

    assert failure.value.permanent is True


def test_the_url_gives_the_server_and_its_defaults() -> None:
    assert SmtpServer.from_url("smtps://u:p@mail.example") == SmtpServer(
        "mail.example", 465, "u", "p", use_tls=True
    )
    assert SmtpServer.from_url("smtp://mail.example:2525") == SmtpServer(
        "mail.example", 2525, None, None, use_tls=False
    )
    with pytest.raises(ValueError):
        SmtpServer.from_url("smtp://")


def test_settings_choose_the_sender_and_refuse_another_scheme() -> None:
    assert isinstance(sender_for(Settings(smtp_url=None)), LogSender)
    assert isinstance(sender_for(Settings(smtp_url="")), LogSender)
    assert isinstance(sender_for(Settings(smtp_url="smtp://127.0.0.1:25")), SmtpSender)
    with pytest.raises(ValueError, match="SMTP_URL") as refusal:
        Settings(smtp_url="http://user:leaked-password@mail.example")
    assert "leaked-password" not in str(refusal.value)


async def test_the_log_sender_says_a_mail_went_without_its_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mail = Mail(
        to="ana.secret@example.com",
        subject="Private subject",
        text="Private body",
        message_id=message_id_for("k", sender=FROM),
    )

    with caplog.at_level(logging.INFO, logger="app.mail"):
        await LogSender(sender=FROM).send(mail)

    [line] = caplog.messages
    assert message_id_for("k", sender=FROM) in line and "example.com" in line
    for private in ("ana.secret", "Private subject", "Private body"):
        assert private not in line
