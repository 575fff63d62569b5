"""How to reach a customer, for the features that write to them (the outbox): looked up
when a message goes, so it follows a changed address and reaches nobody once the account
is deleted."""

from __future__ import annotations

from dataclasses import dataclass

from app.accounts.models import Role, User


@dataclass(frozen=True, slots=True)
class MailContact:
    email: str
    # The customer's chosen locale; None when they never chose one.
    locale: str | None


async def mail_contact(customer_id: int) -> MailContact | None:
    """The customer's address and locale; None for an unknown or deleted account."""
    found = (
        await User.filter(id=customer_id, deleted_at=None, role=Role.CUSTOMER)
        .limit(1)
        .values("email", "locale")
    )
    if not found:
        return None
    return MailContact(email=found[0]["email"], locale=found[0]["locale"])
