"""A customer's outbox messages are theirs: in their data export, and erased with their
account, so nothing queued is sent afterwards."""

from __future__ import annotations

from app import db
from app.outbox import deliver_due, enqueue
from tests.mail.mailbox import running_mailbox
from tests.outbox.support import POLICY, smtp_to
from tests.privacy.stories import delete, export_of, make_member
from tests.support import Api


async def test_the_export_holds_the_customers_messages_and_nobody_elses(api: Api) -> None:
    ana = await make_member(api, "Ana")
    bruno = await make_member(api, "Bruno")
    await enqueue(
        key="ana:1",
        customer_id=ana.user.id,
        subject="Hello Ana",
        text="Your credit is ready",
        locale="pt-BR",
    )
    await enqueue(key="bruno:1", customer_id=bruno.user.id, subject="Hello Bruno", text="x")
    with running_mailbox() as mailbox:
        await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)

    document = await export_of(api, ana.access_token)

    # Her story's refund was also told by email: that message is hers too.
    mine = {m["subject"]: m for m in document["outgoingMessages"]}
    assert set(mine) == {"Hello Ana", "Cashback adjusted after a refund"}
    message = mine["Hello Ana"]
    assert message["subject"] == "Hello Ana"
    assert message["text"] == "Your credit is ready"
    assert (message["channel"], message["locale"], message["status"]) == ("EMAIL", "pt-BR", "SENT")
    assert message["createdAt"] and message["sentAt"]
    assert "Bruno" not in str(document["outgoingMessages"])


async def test_deleting_the_account_erases_its_messages_and_nothing_goes_out(api: Api) -> None:
    ana = await make_member(api, "Ana")
    bruno = await make_member(api, "Bruno")
    await enqueue(key="ana:sent", customer_id=ana.user.id, subject="Hi Ana", text="t")
    with running_mailbox() as mailbox:
        await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)
    await enqueue(key="ana:queued", customer_id=ana.user.id, subject="Hi Ana", text="t")
    await enqueue(key="bruno:queued", customer_id=bruno.user.id, subject="Hi", text="t")

    answer = await delete(api, ana.access_token)
    assert answer["data"]["deleteAccount"]["userErrors"] == []

    assert await db.rows("SELECT key FROM outbox_messages WHERE customer_id = ?", ana.user.id) == []
    left = await db.rows("SELECT key, status FROM outbox_messages WHERE key = 'bruno:queued'")
    assert left == [{"key": "bruno:queued", "status": "PENDING"}]
    with running_mailbox() as mailbox:
        done = await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)
    assert done["mail_sent"] == 1
    assert [r.recipients for r in mailbox.received] == [[bruno.email]]
