"""The texts of the messages, per language: a title and a body with `{named}` places the
trigger fills. A language without a translation gets English."""

from __future__ import annotations

from collections.abc import Mapping

from app.core.locales import pick

# The language every message has; the others are translations of it.
DEFAULT_LOCALE = "en"

# The longest title and body stored (the columns' widths).
MAX_TITLE_LENGTH = 200
MAX_BODY_LENGTH = 1000

Texts = dict[str, tuple[str, str]]

TEXTS: dict[str, Texts] = {
    "CASHBACK_RECORDED": {
        "en": (
            "You earned {amount} cashback",
            "Your cashback of {amount} at {merchant} becomes available on {available_on}.",
        ),
        "fr": (
            "Vous avez gagné {amount} de cashback",
            "Votre cashback de {amount} chez {merchant} sera disponible le {available_on}.",
        ),
        "es": (
            "Has ganado {amount} de cashback",
            "Tu cashback de {amount} en {merchant} estará disponible el {available_on}.",
        ),
    },
    "CREDITS_AVAILABLE": {
        "en": ("{amount} ready to spend", "{amount} of cashback is now available to spend."),
        "fr": ("{amount} à dépenser", "{amount} de cashback sont maintenant disponibles."),
        "es": ("{amount} listos para usar", "{amount} de cashback ya están disponibles."),
    },
    "CREDITS_EXPIRING": {
        "en": (
            "Credits expiring soon",
            "{amount} of your credits expire on {expires_on}: spend them before then.",
        ),
        "fr": (
            "Des crédits expirent bientôt",
            "{amount} de vos crédits expirent le {expires_on} : utilisez-les d'ici là.",
        ),
        "es": (
            "Créditos a punto de caducar",
            "{amount} de tus créditos caducan el {expires_on}: úsalos antes.",
        ),
    },
    "REDEMPTION_CAPTURED": {
        "en": (
            "You paid {amount} with credits",
            "{amount} of your credits paid part of your order at {merchant}.",
        ),
        "fr": (
            "Vous avez payé {amount} avec vos crédits",
            "{amount} de vos crédits ont payé une partie de votre commande chez {merchant}.",
        ),
        "es": (
            "Has pagado {amount} con créditos",
            "{amount} de tus créditos pagaron parte de tu pedido en {merchant}.",
        ),
    },
    "TIER_REACHED": {
        "en": ("Welcome to {tier}", "Your purchases took you to {tier}: more cashback ahead."),
        "fr": ("Bienvenue en {tier}", "Vos achats vous ont fait passer en {tier}."),
        "es": ("Bienvenido a {tier}", "Tus compras te llevaron a {tier}: más cashback."),
    },
    "CASHBACK_TAKEN_BACK": {
        "en": (
            "Cashback adjusted after a refund",
            "A refund at {merchant} took back {amount} of cashback.",
        ),
        "fr": (
            "Cashback ajusté après un remboursement",
            "Un remboursement chez {merchant} a repris {amount} de cashback.",
        ),
        "es": (
            "Cashback ajustado tras un reembolso",
            "Un reembolso en {merchant} retiró {amount} de cashback.",
        ),
    },
    "SEGMENT_OFFER": {
        "en": ("An offer picked for you", "{offer}: have a look before it ends."),
        "fr": ("Une offre choisie pour vous", "{offer} : profitez-en avant la fin."),
        "es": ("Una oferta para ti", "{offer}: aprovéchala antes de que termine."),
    },
    "BIRTHDAY": {
        "en": ("Happy birthday!", "A gift from us for your birthday: {offer}."),
        "fr": ("Joyeux anniversaire !", "Un cadeau pour votre anniversaire : {offer}."),
        "es": ("¡Feliz cumpleaños!", "Un regalo por tu cumpleaños: {offer}."),
    },
    "BIRTHDAY_GREETING": {
        "en": ("Happy birthday!", "All the best for your birthday from all of us."),
        "fr": ("Joyeux anniversaire !", "Toute l'équipe vous souhaite un joyeux anniversaire."),
        "es": ("¡Feliz cumpleaños!", "Todo el equipo te desea un feliz cumpleaños."),
    },
    "POST_PURCHASE": {
        "en": ("You might also like", "Picked for you after your purchase: {products}."),
        "fr": ("Vous aimerez aussi", "Choisis pour vous après votre achat : {products}."),
        "es": ("También te puede gustar", "Elegidos para ti tras tu compra: {products}."),
    },
    "LAPSED_NUDGE": {
        "en": ("We miss you", "It has been a while. Your next purchase earns cashback."),
        "fr": ("Vous nous manquez", "Cela fait longtemps. Votre prochain achat rapporte."),
        "es": ("Te echamos de menos", "Ha pasado tiempo. Tu próxima compra suma cashback."),
    },
}


class _Blank(dict[str, str]):
    """Parameters a template names but the trigger did not give read as empty."""

    def __missing__(self, key: str) -> str:
        return ""


def render(text: str, locale: str | None, params: Mapping[str, str]) -> tuple[str, str, str]:
    """(the language used, title, body) of the text `text` for a customer of `locale`."""
    translations = TEXTS[text]
    wanted = [locale] if locale else []
    chosen = pick(translations, wanted)
    used = DEFAULT_LOCALE
    if chosen is not None and locale:
        used = next(
            tag for tag, value in translations.items() if value is chosen
        )  # the translation's own tag ("fr" for a customer of "fr-CA")
    title, body = chosen or translations[DEFAULT_LOCALE]
    values = _Blank(params)
    return (
        used,
        title.format_map(values)[:MAX_TITLE_LENGTH],
        body.format_map(values)[:MAX_BODY_LENGTH],
    )
