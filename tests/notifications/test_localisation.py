"""A message is written in the customer's language when it has a translation (the
language alone is enough: fr-CA reads French), else in English."""

from __future__ import annotations

from app.notifications import triggers
from app.settings import Settings
from tests.factories import make_customer
from tests.notifications.inbox import stored


async def _captured(customer_id: int) -> dict:
    await triggers.redemption_captured(
        customer_id=customer_id,
        redemption_id=1,
        amount_minor=450,
        currency="USD",
        merchant_name="Boulangerie",
    )
    [row] = await stored(customer_id)
    return row


async def test_a_french_customer_reads_french(db: Settings) -> None:
    row = await _captured((await make_customer(locale="fr-CA")).id)

    assert row["locale"] == "fr"
    assert row["title"] == "Vous avez payé 4.50 USD avec vos crédits"
    assert row["body"] == (
        "4.50 USD de vos crédits ont payé une partie de votre commande chez Boulangerie."
    )


async def test_a_language_without_translation_reads_english(db: Settings) -> None:
    for locale in ("pt-BR", None):
        row = await _captured((await make_customer(locale=locale)).id)

        assert row["locale"] == "en"
        assert row["title"] == "You paid 4.50 USD with credits"
