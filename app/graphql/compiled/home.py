"""The contract's `Home` (mobile/home.graphql), compiled.

For a signed-in customer with page sizes the fields accept, it calls the services the
resolvers call, with the same arguments and as concurrently, and builds the answer in
the document's exact field order with the schema's own serialisation (ids as
`encode_id` makes them, the rest as `render` says).

Anything else falls back to standard execution: no token or one that is refused, a
caller who is not a customer (a partner, an admin), variables other than `offers` and
`suggestions` as JSON integers a field accepts, or any service raising.

Keep each `_render_*` in step with the resolvers it stands for (named in its comment):
the differential test (tests/graphql_compiled/) compares both paths byte for byte.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from app import ledger
from app.cashback import rules, tiers
from app.cashback.types import CustomerTier
from app.catalog import service as catalog
from app.catalog.product_type import Product
from app.catalog.types import Merchant
from app.core import clock
from app.core.errors import InvalidInput
from app.core.ids import encode_id
from app.graphql.compiled import render
from app.graphql.compiled.render import (
    Fallback,
    boolean,
    date_time,
    decimal,
    enum,
    money,
    optional_string,
    render_balance,
    required,
    string,
)
from app.graphql.context import Context
from app.offers import feed
from app.offers.types import Offer, offers_connection, viewer_reader, wanted_languages
from app.program.service import get_program
from app.settings import Settings
from app.suggestions import service as suggestions_service
from app.suggestions.types import Suggestion

NAME = "Home"

# The exact text clients send (the trusted document of the contract's `Home`).
DOCUMENT = """query Home($offers: Int = 10, $suggestions: Int = 6) {
  viewer {
    id
    displayName
    memberCode
    tier {
      code
      name
      cashbackMultiplier
      nextTier { code name }
      spendToNextTier { amount currencyCode }
    }
    balance {
      available { amount currencyCode }
      pending { amount currencyCode }
      reserved { amount currencyCode }
      lifetimeEarned { amount currencyCode }
      nextExpiry { amount { amount currencyCode } expiresAt }
    }
    offers(first: $offers) {
      edges { cursor node { ...OfferCard } }
      pageInfo { hasNextPage endCursor }
    }
    suggestions(first: $suggestions) {
      product { ...ProductCard }
      reason
      affordableWithBalance
      estimatedCashback { amount currencyCode }
    }
  }
}

fragment OfferCard on Offer {
  id
  title
  description
  kind
  percent
  bonus { amount currencyCode }
  minimumSpend { amount currencyCode }
  merchant { id name logoUrl }
  category
  channels
  startsAt
  endsAt
  terms
  exclusive
  requiresActivation
  activated
}

fragment ProductCard on Product {
  id
  sku
  name
  imageUrl
  category
  price { amount currencyCode }
  merchant { id name }
  cashbackPercent
}
"""

# The variables' defaults, as the document declares them.
DEFAULT_OFFERS = 10
DEFAULT_SUGGESTIONS = 6
# GraphQL's Int: a 32-bit signed integer.
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


# --- the selections -----------------------------------------------------------------------


def _render_tier(tier: CustomerTier) -> dict[str, Any]:
    """viewer.tier { code name cashbackMultiplier nextTier { code name }
    spendToNextTier { amount currencyCode } }  (app/cashback/types.py ViewerFields.tier)"""
    following = tier.next_tier
    return {
        "code": string(tier.code),
        "name": string(tier.name),
        "cashbackMultiplier": decimal(tier.cashback_multiplier),
        "nextTier": (
            None
            if following is None
            else {"code": string(following.code), "name": string(following.name)}
        ),
        "spendToNextTier": money(tier.spend_to_next_tier),
    }


def _render_merchant_of_offer(merchant: Merchant | None) -> dict[str, Any] | None:
    """OfferCard.merchant { id name logoUrl }  (app/offers/types.py Offer.merchant)"""
    if merchant is None:
        return None
    return {
        "id": string(merchant.id),
        "name": string(merchant.name),
        "logoUrl": optional_string(merchant.logo_url),
    }


def _render_offer(offer: Offer, merchant: Merchant | None) -> dict[str, Any]:
    """fragment OfferCard: id title description kind percent bonus minimumSpend merchant
    category channels startsAt endsAt terms exclusive requiresActivation activated
    (app/offers/types.py Offer)"""
    return {
        "id": string(offer.id),
        "title": string(offer.title),
        "description": string(offer.description),
        "kind": enum(offer.kind),
        "percent": None if offer.percent is None else decimal(offer.percent),
        "bonus": money(offer.bonus),
        "minimumSpend": money(offer.minimum_spend),
        "merchant": _render_merchant_of_offer(merchant),
        "category": optional_string(offer.category),
        "channels": None if offer.channels is None else [enum(c) for c in offer.channels],
        "startsAt": date_time(offer.starts_at),
        "endsAt": date_time(offer.ends_at),
        "terms": string(offer.terms),
        "exclusive": boolean(offer.exclusive),
        "requiresActivation": boolean(offer.requires_activation),
        "activated": boolean(offer.activated),
    }


def _render_product(product: Product, merchant: Merchant, percent: Decimal) -> dict[str, Any]:
    """fragment ProductCard: id sku name imageUrl category price { amount currencyCode }
    merchant { id name } cashbackPercent  (app/catalog/types.py ProductFields,
    app/cashback/types.py ProductFields.cashback_percent)"""
    return {
        "id": string(product.id),
        "sku": string(product.sku),
        "name": string(product.name),
        "imageUrl": optional_string(product.image_url),
        "category": string(product.category),
        "price": required(money(product.price)),
        "merchant": {"id": string(merchant.id), "name": string(merchant.name)},
        "cashbackPercent": decimal(percent),
    }


def _render_suggestion(suggestion: Suggestion, product: dict[str, Any]) -> dict[str, Any]:
    """viewer.suggestions { product { ...ProductCard } reason affordableWithBalance
    estimatedCashback { amount currencyCode } }  (app/suggestions/types.py Suggestion)"""
    return {
        "product": product,
        "reason": string(suggestion.reason),
        "affordableWithBalance": boolean(suggestion.affordable_with_balance),
        "estimatedCashback": required(money(suggestion.estimated_cashback)),
    }


# --- the services, as the resolvers call them ---------------------------------------------


class _Plan:
    """One request's run: the context and the customer's row."""

    def __init__(self, context: Context, user: Any) -> None:
        self.context = context
        self.user = user

    async def tier(self) -> dict[str, Any]:
        """app/cashback/types.py ViewerFields.tier"""
        standing = await self.context.loader(tiers.customer_tiers).load(self.user.id)
        return _render_tier(CustomerTier.of(standing))

    async def balance(self) -> dict[str, Any]:
        """app/ledger/types.py ViewerFields.balance"""
        program = await get_program()
        found = await ledger.get_balance(customer_id=self.user.id, currency=program.currency_code)
        return render_balance(found)

    async def offers(self, first: int) -> dict[str, Any]:
        """app/offers/types.py ViewerFields.offers (with `viewer_reader`) and Offer.merchant"""
        user = self.user
        now = clock.now()
        reader = await viewer_reader(self.context, user, now)
        page = await feed.offers_for(
            reader, first=first, after=None, merchant_id=None, category=None, now=now
        )
        connection = offers_connection(page, wanted_languages(self.context, user.locale))
        offers = [edge.node for edge in connection.edges]
        merchants = await asyncio.gather(*(self._merchant_of_offer(o) for o in offers))
        info = connection.page_info
        return {
            "edges": [
                {"cursor": string(edge.cursor), "node": _render_offer(edge.node, merchant)}
                for edge, merchant in zip(connection.edges, merchants, strict=True)
            ],
            "pageInfo": {
                "hasNextPage": boolean(info.has_next_page),
                "endCursor": optional_string(info.end_cursor),
            },
        }

    async def _merchant_of_offer(self, offer: Offer) -> Merchant | None:
        """app/offers/types.py Offer.merchant"""
        if offer.merchant_pk is None:
            return None
        row = await self.context.loader(catalog.merchants_by_ids).load(offer.merchant_pk)
        return Merchant.of(row) if row else None

    async def suggestions(self, first: int) -> list[dict[str, Any]]:
        """app/suggestions/types.py ViewerFields.suggestions, with each product's
        merchant (app/catalog/types.py ProductFields.merchant) and cashbackPercent"""
        found = await suggestions_service.suggestions_for(
            customer_id=self.user.id,
            personalized=bool(self.user.consent_personalization),
            first=first,
            purchase_id=None,
        )
        suggestions = [Suggestion.of(s) for s in found]
        products = await asyncio.gather(*(self._product(s.product) for s in suggestions))
        return [
            _render_suggestion(s, product) for s, product in zip(suggestions, products, strict=True)
        ]

    async def _product(self, product: Product) -> dict[str, Any]:
        loader = self.context.loader
        row, percent = await asyncio.gather(
            loader(catalog.merchants_by_ids).load(product.merchant_pk),
            loader(rules.best_catalogue_percents).load(
                (product.merchant_pk, product.category, product.price_minor)
            ),
        )
        if row is None:
            raise Fallback("a product's merchant is unknown")
        return _render_product(product, Merchant.of(row), percent)

    async def viewer(self, offers: int, suggestions: int) -> dict[str, Any]:
        """viewer { id displayName memberCode tier balance offers suggestions }
        (app/graphql/viewer.py, app/accounts/types.py ViewerFields)"""
        user = self.user
        head = {
            "id": encode_id("Customer", user.id),
            "displayName": string(user.display_name),
            "memberCode": string(user.member_code),
        }
        tier, balance, offer_page, suggested = await asyncio.gather(
            self.tier(), self.balance(), self.offers(offers), self.suggestions(suggestions)
        )
        return {
            **head,
            "tier": tier,
            "balance": balance,
            "offers": offer_page,
            "suggestions": suggested,
        }


def _page_sizes(variables: object) -> tuple[int, int]:
    """`offers` and `suggestions` as the fields will take them, or Fallback."""
    if variables is None:
        variables = {}
    if not isinstance(variables, dict) or not set(variables) <= {"offers", "suggestions"}:
        raise Fallback("variables other than offers and suggestions")
    sizes = []
    for name, default in (("offers", DEFAULT_OFFERS), ("suggestions", DEFAULT_SUGGESTIONS)):
        value = variables.get(name, default)
        if type(value) is not int or not _INT_MIN <= value <= _INT_MAX:
            raise Fallback(f"${name} is not an Int")
        sizes.append(value)
    offers, suggestions = sizes
    if offers < 0:
        raise Fallback("offers(first:) is negative")
    try:
        suggestions_service.check_first(suggestions)
    except InvalidInput as refused:
        raise Fallback("suggestions(first:) is out of range") from refused
    return offers, suggestions


class HomeExecutor:
    name = NAME
    document = DOCUMENT

    def worst_variables(self, settings: Settings) -> dict[str, int]:
        return {"offers": settings.max_page_size, "suggestions": settings.max_page_size}

    async def run(
        self, context: Context, request_data: GraphQLRequestData
    ) -> tuple[ExecutionResult | None, Context]:
        return await render.run(NAME, context, lambda: self._answer(context, request_data))

    async def _answer(self, context: Context, request_data: GraphQLRequestData) -> dict[str, Any]:
        if request_data.operation_name not in (None, NAME):
            raise Fallback("another operation name")
        offers, suggestions = _page_sizes(request_data.variables)

        async def viewer(user: Any) -> dict[str, Any]:
            return {"viewer": await _Plan(context, user).viewer(offers, suggestions)}

        return await render.for_customer(context, viewer)


__all__ = ["DOCUMENT", "HomeExecutor"]
