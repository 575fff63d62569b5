"""Strawberry types of earning: purchases, rules, tiers, the activity of a wallet, the
viewer's fields (tier, purchases, activity) and the catalogue product's (cashbackPercent)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.types.arguments import InputContext

from app import ledger
from app.cashback import history, purchases, rules, tiers
from app.cashback.earning import REASON_MESSAGES, NoCashbackReason, Part
from app.cashback.models import CashbackRule as RuleRow
from app.cashback.models import Purchase as PurchaseRow
from app.cashback.models import PurchaseStatus as PurchaseStatusValue
from app.cashback.preview import Preview
from app.catalog import service as catalog
from app.catalog.types import Channel, Merchant, ProductRoot, Store
from app.core import clock
from app.core.decimals import plain_decimal
from app.core.ids import encode_id
from app.core.pagination import Page
from app.graphql.context import Context, Info
from app.graphql.errors import UserError
from app.graphql.node import Node, node_fetcher
from app.graphql.parents import ViewerRoot
from app.graphql.permissions import IsCustomer
from app.graphql.scalars import Connection, Money, MoneyInput

strawberry.enum(PurchaseStatusValue, name="PurchaseStatus")
strawberry.enum(
    NoCashbackReason, name="NoCashbackReason", description="Why a purchase earned nothing."
)
# The GraphQL enums are the models' own classes, registered above.
PurchaseStatus = PurchaseStatusValue
NoCashbackReasonEnum = NoCashbackReason


@strawberry.enum(description="Where a purchase's cashback stands.")
class CashbackStatus(Enum):
    NONE = "NONE"
    PENDING = "PENDING"
    AVAILABLE = "AVAILABLE"
    REVERSED = "REVERSED"


@strawberry.enum
class ActivityKind(Enum):
    CASHBACK = "CASHBACK"
    BONUS = "BONUS"
    REFERRAL = "REFERRAL"
    REDEMPTION = "REDEMPTION"
    REVERSAL = "REVERSAL"
    EXPIRY = "EXPIRY"
    ADJUSTMENT = "ADJUSTMENT"


@strawberry.enum
class ActivityStatus(Enum):
    PENDING = "PENDING"
    AVAILABLE = "AVAILABLE"
    RESERVED = "RESERVED"
    COMPLETED = "COMPLETED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"
    REVERSED = "REVERSED"


@strawberry.type(
    description="One part of a credit: the percent applied to a base (a fixed bonus has "
    "neither). The parts of a credit add up exactly to it."
)
class CashbackPart:
    label: str
    percent: Decimal | None
    base: Money | None
    amount: Money

    @classmethod
    def of(cls, part: Part, currency: str) -> CashbackPart:
        return cls(
            label=part.label,
            percent=part.percent,
            base=None if part.base_minor is None else Money.from_minor(part.base_minor, currency),
            amount=Money.from_minor(part.amount_minor, currency),
        )


def _parts(data: object, currency: str) -> list[CashbackPart]:
    return [CashbackPart.of(p, currency) for p in history.explanation_parts(data)]


@strawberry.type
class PurchaseItem:
    sku: str
    name: str | None
    category: str | None
    quantity: int
    unit_price: Money


@strawberry.type(description="A purchase a store reported, and the cashback it earned.")
class Purchase(Node):
    external_id: str
    status: PurchaseStatus
    channel: Channel
    occurred_at: datetime
    total: Money
    credits_used: Money
    refunded: Money
    cashback: Money = strawberry.field(description="What the purchase earned, less refunds.")
    cashback_earned: Money = strawberry.field(description="What the purchase first earned.")
    cashback_status: CashbackStatus
    cashback_available_at: datetime | None
    cashback_expires_at: datetime | None
    pk: strawberry.Private[int]
    store_pk: strawberry.Private[int]
    currency: strawberry.Private[str]
    explanation_data: strawberry.Private[object]
    reason: strawberry.Private[str | None]

    @classmethod
    def of(cls, row: PurchaseRow) -> Purchase:
        currency = row.currency
        return cls(
            id=strawberry.ID(encode_id("Purchase", row.id)),
            external_id=row.external_id,
            status=PurchaseStatusValue(row.status),
            channel=row.channel,
            occurred_at=row.occurred_at,
            total=Money.from_minor(row.total_minor, currency),
            credits_used=Money.from_minor(row.credits_used_minor + row.redeemed_minor, currency),
            refunded=Money.from_minor(row.refunded_minor, currency),
            cashback=Money.from_minor(row.cashback_minor - row.cashback_reversed_minor, currency),
            cashback_earned=Money.from_minor(row.cashback_minor, currency),
            cashback_status=CashbackStatus(history.cashback_status(row, clock.now())),
            cashback_available_at=row.cashback_available_at,
            cashback_expires_at=row.cashback_expires_at,
            pk=row.id,
            store_pk=row.store_id,
            currency=currency,
            explanation_data=row.explanation,
            reason=row.no_cashback_reason,
        )

    @strawberry.field(description="How the cashback was earned: its parts add up to it.")
    def explanation(self) -> list[CashbackPart]:
        return _parts(self.explanation_data, self.currency)

    @strawberry.field(description="Why the purchase earned nothing, when it did not.")
    def no_cashback_reason(self) -> NoCashbackReasonEnum | None:
        return NoCashbackReason(self.reason) if self.reason else None

    @strawberry.field
    def no_cashback_message(self) -> str | None:
        return REASON_MESSAGES[NoCashbackReason(self.reason)] if self.reason else None

    @strawberry.field
    async def store(self, info: Info) -> Store:
        row = await info.context.loader(catalog.stores_by_ids).load(self.store_pk)
        assert row is not None
        return Store.of(row)

    @strawberry.field
    async def items(self, info: Info) -> list[PurchaseItem]:
        rows = await info.context.loader(history.items_of_purchases).load(self.pk)
        return [
            PurchaseItem(
                sku=row.sku,
                name=row.name,
                category=row.category,
                quantity=row.quantity,
                unit_price=Money.from_minor(row.unit_price_minor, self.currency),
            )
            for row in rows
        ]


@strawberry.type(description="A program rule: a percent for the purchases it matches.")
class CashbackRule(Node):
    name: str
    percent: Decimal
    category: str | None
    channels: list[Channel] | None
    minimum_spend: Money | None
    max_cashback_per_purchase: Money | None
    starts_at: datetime | None
    ends_at: datetime | None
    terms: str
    merchant_pk: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: RuleRow) -> CashbackRule:
        currency = row.currency
        return cls(
            id=strawberry.ID(encode_id("CashbackRule", row.id)),
            name=row.name,
            percent=plain_decimal(row.percent),
            category=row.category,
            channels=rules.rule_channels(row),
            minimum_spend=(
                None
                if row.minimum_spend_minor is None
                else Money.from_minor(row.minimum_spend_minor, currency)
            ),
            max_cashback_per_purchase=(
                None
                if row.max_cashback_minor is None
                else Money.from_minor(row.max_cashback_minor, currency)
            ),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            terms=row.terms,
            merchant_pk=row.merchant_id,
        )

    @strawberry.field(description="The merchant it is limited to, if any.")
    async def merchant(self, info: Info) -> Merchant | None:
        if self.merchant_pk is None:
            return None
        row = await info.context.loader(catalog.merchants_by_ids).load(self.merchant_pk)
        return Merchant.of(row) if row else None


@strawberry.type(description="A level of the program, reached by spending in 365 days.")
class Tier:
    code: str
    name: str
    cashback_multiplier: Decimal
    minimum_spend: Money

    @classmethod
    def of(cls, tier: tiers.TierInfo) -> Tier:
        return cls(
            code=tier.code,
            name=tier.name,
            cashback_multiplier=tier.multiplier,
            minimum_spend=Money.of(tier.minimum_spend),
        )


@strawberry.type(description="The customer's tier, from what they spent in the last 365 days.")
class CustomerTier:
    code: str
    name: str
    cashback_multiplier: Decimal
    spend: Money = strawberry.field(description="Spent in the last 365 days, less refunds.")
    next_tier: Tier | None
    spend_to_next_tier: Money | None

    @classmethod
    def of(cls, value: tiers.CustomerTier) -> CustomerTier:
        return cls(
            code=value.tier.code,
            name=value.tier.name,
            cashback_multiplier=value.tier.multiplier,
            spend=Money.of(value.spend),
            next_tier=Tier.of(value.next_tier) if value.next_tier else None,
            spend_to_next_tier=(
                Money.of(value.spend_to_next_tier) if value.spend_to_next_tier else None
            ),
        )


@strawberry.type(description="What a cart would earn if it were bought now.")
class CashbackPreview:
    cashback: Money
    explanation: list[CashbackPart]
    no_cashback_reason: NoCashbackReasonEnum | None
    no_cashback_message: str | None
    tier: Tier
    available_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, preview: Preview) -> CashbackPreview:
        earned, currency = preview.earning, preview.currency
        return cls(
            cashback=Money.from_minor(earned.amount_minor, currency),
            explanation=[CashbackPart.of(p, currency) for p in earned.parts],
            no_cashback_reason=earned.reason,
            no_cashback_message=REASON_MESSAGES[earned.reason] if earned.reason else None,
            tier=Tier.of(preview.tier),
            available_at=preview.available_at,
            expires_at=preview.expires_at,
        )


@strawberry.type(description="One line of the wallet's history.")
class ActivityEntry:
    id: strawberry.ID
    kind: ActivityKind
    status: ActivityStatus
    amount: Money
    occurred_at: datetime
    available_at: datetime | None
    expires_at: datetime | None
    description: str
    explanation: list[CashbackPart]
    merchant_pk: strawberry.Private[int | None]
    purchase_pk: strawberry.Private[int | None]
    customer_pk: strawberry.Private[int]

    @classmethod
    def of(cls, entry: ledger.Entry, customer_id: int) -> ActivityEntry:
        details = entry.details or {}
        return cls(
            id=strawberry.ID(encode_id("ActivityEntry", entry.id)),
            kind=ActivityKind(entry.kind),
            status=ActivityStatus(entry.status),
            amount=Money.from_minor(entry.amount, entry.currency),
            occurred_at=entry.occurred_at,
            available_at=entry.available_at,
            expires_at=entry.expires_at,
            description=entry.description,
            explanation=_parts(details.get("explanation"), entry.currency),
            merchant_pk=entry.merchant_id,
            purchase_pk=(
                entry.source_id if entry.source_type == purchases.SOURCE_PURCHASE else None
            ),
            customer_pk=customer_id,
        )

    @strawberry.field
    async def merchant(self, info: Info) -> Merchant | None:
        if self.merchant_pk is None:
            return None
        row = await info.context.loader(catalog.merchants_by_ids).load(self.merchant_pk)
        return Merchant.of(row) if row else None

    @strawberry.field(description="The purchase this entry is about, if any.")
    async def purchase(self, info: Info) -> Purchase | None:
        if self.purchase_pk is None:
            return None
        row = await info.context.loader(history.purchases_of_customer).load(
            (self.customer_pk, self.purchase_pk)
        )
        return Purchase.of(row) if row else None


# --- inputs and payloads ---------------------------------------------------------------


@strawberry.input(description="Exactly one of memberCode, email or customerId.")
class CustomerRefInput:
    member_code: str | None = None
    email: str | None = None
    customer_id: strawberry.ID | None = None

    def value(self) -> purchases.CustomerRef:
        return purchases.CustomerRef(
            member_code=self.member_code, email=self.email, customer_id=self.customer_id
        )


@strawberry.input
class PurchaseItemInput:
    sku: str
    name: str | None = None
    category: str | None = None
    quantity: int
    unit_price: MoneyInput

    def value(self) -> purchases.ItemInput:
        return purchases.ItemInput(
            sku=self.sku,
            name=self.name,
            category=self.category,
            quantity=self.quantity,
            unit_price_amount=self.unit_price.amount,
            unit_price_currency=self.unit_price.currency_code,
        )


@strawberry.input
class RecordPurchaseInput:
    store_id: strawberry.ID
    external_id: str
    customer: CustomerRefInput
    total: MoneyInput
    occurred_at: datetime
    items: list[PurchaseItemInput] | None = None
    credits_used: MoneyInput | None = None

    def value(self) -> purchases.PurchaseInput:
        return purchases.PurchaseInput(
            store_id=self.store_id,
            external_id=self.external_id,
            customer=self.customer.value(),
            total_amount=self.total.amount,
            total_currency=self.total.currency_code,
            occurred_at=self.occurred_at,
            items=None if self.items is None else [i.value() for i in self.items],
            credits_used_amount=self.credits_used.amount if self.credits_used else None,
            credits_used_currency=self.credits_used.currency_code if self.credits_used else None,
        )


def _money(value: Mapping[str, Any]) -> MoneyInput:
    return MoneyInput(amount=value["amount"], currency_code=value["currencyCode"])


def _money_input(value: Mapping[str, Any] | None) -> MoneyInput | None:
    return None if value is None else _money(value)


def _record_purchase_from_input(
    cls: type, value: Mapping[str, Any], context: InputContext
) -> RecordPurchaseInput:
    """RecordPurchaseInput built straight from its (already validated and parsed) input
    value. Strawberry's generic conversion walks every nested field through its type
    machinery, which costs more than recording the purchase when 500 come at once."""
    customer = value["customer"]
    items = value.get("items")
    return cls(
        store_id=value["storeId"],
        external_id=value["externalId"],
        customer=CustomerRefInput(
            member_code=customer.get("memberCode"),
            email=customer.get("email"),
            customer_id=customer.get("customerId"),
        ),
        total=_money(value["total"]),
        occurred_at=value["occurredAt"],
        items=None
        if items is None
        else [
            PurchaseItemInput(
                sku=i["sku"],
                name=i.get("name"),
                category=i.get("category"),
                quantity=i["quantity"],
                unit_price=_money(i["unitPrice"]),
            )
            for i in items
        ],
        credits_used=_money_input(value.get("creditsUsed")),
    )


strawberry.types.get_object_definition(
    RecordPurchaseInput, strict=True
).from_input = _record_purchase_from_input


@strawberry.input
class RefundPurchaseInput:
    store_id: strawberry.ID
    external_id: str
    amount: MoneyInput
    idempotency_key: str
    reason: str | None = None


@strawberry.input
class CreateCashbackRuleInput:
    name: str
    percent: Decimal
    merchant_id: strawberry.ID | None = None
    category: str | None = None
    channels: list[Channel] | None = None
    minimum_spend: MoneyInput | None = None
    max_cashback_per_purchase: MoneyInput | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    terms: str


@strawberry.input
class TierInput:
    code: str
    name: str
    cashback_multiplier: Decimal
    minimum_spend: MoneyInput


@strawberry.type
class RecordPurchasePayload:
    purchase: Purchase | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecordPurchasesPayload:
    results: list[RecordPurchasePayload] | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RefundPurchasePayload:
    purchase: Purchase | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CreateCashbackRulePayload:
    rule: CashbackRule | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class EndCashbackRulePayload:
    rule: CashbackRule | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateTiersPayload:
    tiers: list[Tier] | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


# --- the viewer's fields -------------------------------------------------------------


@strawberry.type
class ViewerFields:
    @strawberry.field(permission_classes=[IsCustomer], description="The customer's tier.")
    async def tier(self, root: strawberry.Parent[ViewerRoot], info: Info) -> CustomerTier:
        return CustomerTier.of(await info.context.loader(tiers.customer_tiers).load(root.id))

    @strawberry.field(permission_classes=[IsCustomer], description="Purchases, newest first.")
    async def purchases(
        self, root: strawberry.Parent[ViewerRoot], first: int, after: str | None = None
    ) -> Connection[Purchase]:
        page: Page[PurchaseRow] = await history.list_purchases(
            customer_id=root.id, first=first, after=after
        )
        return Connection.of(page, [Purchase.of(row) for row in page.items])

    @strawberry.field(
        permission_classes=[IsCustomer], description="The wallet's history, newest first."
    )
    async def activity(
        self, root: strawberry.Parent[ViewerRoot], first: int, after: str | None = None
    ) -> Connection[ActivityEntry]:
        page = await ledger.list_entries(customer_id=root.id, first=first, after=after)
        return Connection.of(page, [ActivityEntry.of(entry, root.id) for entry in page.items])


# --- the catalogue product's fields -----------------------------------------------------


@strawberry.type
class ProductFields:
    """Joined into the catalogue's `Product` (see app/catalog/product_type.py)."""

    @strawberry.field(
        description="The best percent this product earns today, before the tier multiplier "
        "and offers (the merchant's percent or a program rule for its category)."
    )
    async def cashback_percent(self, root: strawberry.Parent[ProductRoot], info: Info) -> Decimal:
        return await info.context.loader(rules.best_catalogue_percents).load(
            (root.merchant_pk, root.category, root.price_minor)
        )


# --- who may see what, by id -------------------------------------------------------


@node_fetcher("Purchase")
async def fetch_purchase(context: Context, pk: int) -> Purchase | None:
    row = await history.get_purchase(pk)
    if row is None or not history.may_see_purchase(context.principal, row):
        return None
    return Purchase.of(row)


@node_fetcher("CashbackRule")
async def fetch_rule(context: Context, pk: int) -> CashbackRule | None:
    row = await rules.get_rule(pk)
    return CashbackRule.of(row) if row else None
