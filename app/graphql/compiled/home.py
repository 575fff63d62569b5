"""The contract's `Home` (mobile/home.graphql), compiled.

For a signed-in customer with page sizes the fields accept, it calls the services the
resolvers call, with the same arguments and as concurrently, and builds the answer in
the document's exact field order with the schema's own serialisation:

- ids as `encode_id` makes them; strings, booleans and ids as graphql-core serialises
  them (a value of another kind falls back rather than being guessed at);
- `Decimal` (percents, multipliers, Money amounts) as `str(value)`, the `Decimal` scalar's
  serialisation; `DateTime` as `datetime.isoformat`, the `DateTime` scalar's;
- enums by name; null where the value is null (a null non-null field falls back).

Anything else falls back to standard execution: no token or one that is refused, a
caller who is not a customer (a partner, an admin), variables other than `offers` and
`suggestions` as JSON integers a field accepts, or any service raising.

Keep each `_render_*` in step with the resolvers it stands for (named in its comment):
the differential test (tests/graphql_compiled/) compares both paths byte for byte.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from decimal import Decimal
from enum import Enum
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
from app.core.reads import shared_reads
from app.graphql.context import Context
from app.graphql.metrics import COMPILED, record_operation
from app.graphql.scalars import Money
from app.ledger.types import Balance
from app.offers import feed
from app.offers.types import Offer, offers_connection, viewer_reader, wanted_languages
from app.program.service import get_program
from app.settings import Settings
from app.suggestions import service as suggestions_service
from app.suggestions.types import Suggestion

log = logging.getLogger(__name__)

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


class Fallback(Exception):
    """This request is not the plain success case: standard execution answers it."""


# --- scalars, as the schema serialises them -----------------------------------------------


def _string(value: object) -> str:
    """A non-null String or ID (graphql-core's `serialize_string` / `serialize_id` for the
    kinds of value our rows hold)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise Fallback(f"a string field holds {type(value).__name__}")


def _optional_string(value: object) -> str | None:
    return None if value is None else _string(value)


def _boolean(value: object) -> bool:
    """A non-null Boolean (graphql-core's `serialize_boolean`: an integer is its truth)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    raise Fallback(f"a boolean field holds {type(value).__name__}")


def _decimal(value: object) -> str:
    """The `Decimal` scalar (app/graphql/scalars.py `decimal_scalar`: `str`)."""
    if value is None:
        raise Fallback("a non-null decimal is null")
    return str(value)


def _datetime(value: object) -> str:
    """The `DateTime` scalar (app/graphql/scalars.py `datetime_scalar`: `isoformat`)."""
    if not isinstance(value, datetime):
        raise Fallback("a non-null time is not a datetime")
    return value.isoformat()


def _enum(value: object) -> str:
    if not isinstance(value, Enum):
        raise Fallback("an enum field holds no enum member")
    return value.name


def _money(value: Money | None) -> dict[str, Any] | None:
    """Money { amount currencyCode }"""
    if value is None:
        return None
    return {"amount": _decimal(value.amount), "currencyCode": _string(value.currency_code)}


def _required(value: dict[str, Any] | None) -> dict[str, Any]:
    if value is None:
        raise Fallback("a non-null object is null")
    return value


# --- the selections -----------------------------------------------------------------------


def _render_tier(tier: CustomerTier) -> dict[str, Any]:
    """viewer.tier { code name cashbackMultiplier nextTier { code name }
    spendToNextTier { amount currencyCode } }  (app/cashback/types.py ViewerFields.tier)"""
    following = tier.next_tier
    return {
        "code": _string(tier.code),
        "name": _string(tier.name),
        "cashbackMultiplier": _decimal(tier.cashback_multiplier),
        "nextTier": (
            None
            if following is None
            else {"code": _string(following.code), "name": _string(following.name)}
        ),
        "spendToNextTier": _money(tier.spend_to_next_tier),
    }


def _render_balance(balance: Balance) -> dict[str, Any]:
    """viewer.balance { available pending reserved lifetimeEarned { amount currencyCode }
    nextExpiry { amount { amount currencyCode } expiresAt } }
    (app/ledger/types.py ViewerFields.balance)"""
    expiry = balance.next_expiry
    return {
        "available": _required(_money(balance.available)),
        "pending": _required(_money(balance.pending)),
        "reserved": _required(_money(balance.reserved)),
        "lifetimeEarned": _required(_money(balance.lifetime_earned)),
        "nextExpiry": (
            None
            if expiry is None
            else {
                "amount": _required(_money(expiry.amount)),
                "expiresAt": _datetime(expiry.expires_at),
            }
        ),
    }


def _render_merchant_of_offer(merchant: Merchant | None) -> dict[str, Any] | None:
    """OfferCard.merchant { id name logoUrl }  (app/offers/types.py Offer.merchant)"""
    if merchant is None:
        return None
    return {
        "id": _string(merchant.id),
        "name": _string(merchant.name),
        "logoUrl": _optional_string(merchant.logo_url),
    }


def _render_offer(offer: Offer, merchant: Merchant | None) -> dict[str, Any]:
    """fragment OfferCard: id title description kind percent bonus minimumSpend merchant
    category channels startsAt endsAt terms exclusive requiresActivation activated
    (app/offers/types.py Offer)"""
    return {
        "id": _string(offer.id),
        "title": _string(offer.title),
        "description": _string(offer.description),
        "kind": _enum(offer.kind),
        "percent": None if offer.percent is None else _decimal(offer.percent),
        "bonus": _money(offer.bonus),
        "minimumSpend": _money(offer.minimum_spend),
        "merchant": _render_merchant_of_offer(merchant),
        "category": _optional_string(offer.category),
        "channels": None if offer.channels is None else [_enum(c) for c in offer.channels],
        "startsAt": _datetime(offer.starts_at),
        "endsAt": _datetime(offer.ends_at),
        "terms": _string(offer.terms),
        "exclusive": _boolean(offer.exclusive),
        "requiresActivation": _boolean(offer.requires_activation),
        "activated": _boolean(offer.activated),
    }


def _render_product(product: Product, merchant: Merchant, percent: Decimal) -> dict[str, Any]:
    """fragment ProductCard: id sku name imageUrl category price { amount currencyCode }
    merchant { id name } cashbackPercent  (app/catalog/types.py ProductFields,
    app/cashback/types.py ProductFields.cashback_percent)"""
    return {
        "id": _string(product.id),
        "sku": _string(product.sku),
        "name": _string(product.name),
        "imageUrl": _optional_string(product.image_url),
        "category": _string(product.category),
        "price": _required(_money(product.price)),
        "merchant": {"id": _string(merchant.id), "name": _string(merchant.name)},
        "cashbackPercent": _decimal(percent),
    }


def _render_suggestion(suggestion: Suggestion, product: dict[str, Any]) -> dict[str, Any]:
    """viewer.suggestions { product { ...ProductCard } reason affordableWithBalance
    estimatedCashback { amount currencyCode } }  (app/suggestions/types.py Suggestion)"""
    return {
        "product": product,
        "reason": _string(suggestion.reason),
        "affordableWithBalance": _boolean(suggestion.affordable_with_balance),
        "estimatedCashback": _required(_money(suggestion.estimated_cashback)),
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
        return _render_balance(Balance.of(found))

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
                {"cursor": _string(edge.cursor), "node": _render_offer(edge.node, merchant)}
                for edge, merchant in zip(connection.edges, merchants, strict=True)
            ],
            "pageInfo": {
                "hasNextPage": _boolean(info.has_next_page),
                "endCursor": _optional_string(info.end_cursor),
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
            "displayName": _string(user.display_name),
            "memberCode": _string(user.member_code),
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
        started = time.perf_counter()
        try:
            data = await self._answer(context, request_data)
        except Fallback as reason:
            log.debug("Home runs uncompiled: %s", reason)
            COMPILED.labels(NAME, "fell_back").inc()
            return None, context
        except Exception:
            # A service failed: standard execution runs it again, with a context of its
            # own, and reports the failure its way.
            log.debug("Home runs uncompiled: a service raised", exc_info=True)
            COMPILED.labels(NAME, "fell_back").inc()
            return None, context.for_operation()
        COMPILED.labels(NAME, "answered").inc()
        record_operation(NAME, "ok", time.perf_counter() - started)
        return ExecutionResult(data={"viewer": data}, errors=None), context

    async def _answer(self, context: Context, request_data: GraphQLRequestData) -> dict[str, Any]:
        if request_data.operation_name not in (None, NAME):
            raise Fallback("another operation name")
        offers, suggestions = _page_sizes(request_data.variables)
        if not context.sends_credentials:
            raise Fallback("no token")  # UNAUTHENTICATED, from standard execution
        with shared_reads():
            if await context.establish_caller() is not None:
                raise Fallback("the token is refused")
            principal = context.established_principal
            user = context.caller_account
            if principal is None or not principal.is_customer or user is None:
                raise Fallback("the caller is not a customer with an account")
            try:
                return await _Plan(context, user).viewer(offers, suggestions)
            except Fallback as reason:
                raise _Retry(str(reason)) from reason


class _Retry(Exception):
    """Fall back after the customer's services ran: standard execution gets a fresh
    context (the attempt's loaders and shared reads are not its own)."""


__all__ = ["DOCUMENT", "HomeExecutor"]
