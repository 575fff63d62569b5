"""Strawberry types of offers: the offer card, its audience, the viewer's offers and the
inputs admins give."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import strawberry

from app.cashback import tiers
from app.cashback.earning import OfferKind as OfferKindValue
from app.catalog import service as catalog
from app.catalog.types import Channel, Merchant
from app.core import clock, locales
from app.core.decimals import plain_decimal
from app.core.ids import encode_id
from app.core.money import minor_units
from app.core.pagination import Page
from app.graphql.context import Context, Info
from app.graphql.errors import UserError
from app.graphql.node import Node, node_fetcher
from app.graphql.parents import ViewerRoot
from app.graphql.permissions import IsAdmin, IsCustomer
from app.graphql.scalars import Connection, Money, MoneyInput
from app.offers import feed, service
from app.offers.audience import Generation as GenerationValue
from app.offers.audience import Member, audience_of
from app.offers.feed import OfferCard
from app.offers.models import Offer as OfferRow
from app.offers.models import OfferStatus as OfferStatusValue
from app.segments import service as segments

strawberry.enum(OfferKindValue, name="OfferKind", description="What an offer gives.")
strawberry.enum(OfferStatusValue, name="OfferStatus", description="Where an offer stands.")
strawberry.enum(GenerationValue, name="Generation", description="Named age ranges, by birth year.")
# The GraphQL enums are the services' own classes, registered above.
OfferKind = OfferKindValue
OfferStatus = OfferStatusValue
Generation = GenerationValue


def _money(value: MoneyInput | None) -> tuple[Decimal, str] | None:
    return (value.amount, value.currency_code) if value is not None else None


def wanted_languages(context: Context, own: str | None = None) -> list[str]:
    """The customer's language first, then the request's Accept-Language."""
    header = context.request.headers.get("accept-language")
    return ([own] if own else []) + locales.accept_languages(header)


@strawberry.type(description="Who an offer is for; unset conditions do not narrow it.")
class Audience:
    tiers: list[str] | None
    min_age: int | None
    max_age: int | None
    generations: list[Generation] | None
    birthday_month: bool
    favorite_category: str | None
    new_customers: bool
    lapsed_days: int | None
    channels: list[Channel] | None = strawberry.field(
        description="The channels the customer has bought in, exactly (both: omnichannel)."
    )
    min_recency_score: int | None
    min_frequency_score: int | None
    min_monetary_score: int | None


@strawberry.type(description="A text of an offer in one language.")
class OfferTranslation:
    locale: str
    title: str | None
    description: str | None
    terms: str | None


@strawberry.type(description="An exclusive offer: a boosted percent or a fixed bonus.")
class Offer(Node):
    title: str
    description: str
    kind: OfferKind
    percent: Decimal | None = strawberry.field(description="For a boosted offer (5.5 = 5.5 %).")
    bonus: Money | None = strawberry.field(description="For a bonus offer, once per purchase.")
    minimum_spend: Money | None
    category: str | None
    channels: list[Channel] | None
    starts_at: datetime
    ends_at: datetime
    terms: str
    exclusive: bool = strawberry.field(
        description="Reserved to registered customers or to a segment of them."
    )
    requires_activation: bool
    activated: bool = strawberry.field(
        description="Whether the signed-in customer activated it (false for anyone else)."
    )
    merchant_pk: strawberry.Private[int | None]
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, card: OfferCard, languages: Sequence[str] = ()) -> Offer:
        texts = locales.pick(card.translations, languages) or {}
        return cls(
            id=strawberry.ID(encode_id("Offer", card.id)),
            title=texts.get("title", card.title),
            description=texts.get("description", card.description),
            terms=texts.get("terms", card.terms),
            kind=OfferKindValue(card.kind),
            percent=None if card.percent is None else plain_decimal(card.percent),
            bonus=None
            if card.bonus_minor is None
            else Money.from_minor(card.bonus_minor, card.currency),
            minimum_spend=(
                None
                if card.minimum_spend_minor is None
                else Money.from_minor(card.minimum_spend_minor, card.currency)
            ),
            category=card.category,
            channels=[Channel(c) for c in card.channels.split(",")] if card.channels else None,
            starts_at=card.starts_at,
            ends_at=card.ends_at,
            exclusive=card.exclusive,
            requires_activation=card.requires_activation,
            activated=card.activated,
            merchant_pk=card.merchant_id,
            pk=card.id,
        )

    @strawberry.field(description="The merchant it applies at; null: every merchant.")
    async def merchant(self, info: Info) -> Merchant | None:
        if self.merchant_pk is None:
            return None
        row = await info.context.loader(catalog.merchants_by_ids).load(self.merchant_pk)
        return Merchant.of(row) if row else None

    # What admins manage.

    async def _row(self, info: Info) -> OfferRow:
        row = await info.context.loader(service.offers_by_ids).load(self.pk)
        assert row is not None
        return row

    @strawberry.field(permission_classes=[IsAdmin])
    async def status(self, info: Info) -> OfferStatus:
        return OfferStatusValue((await self._row(info)).status)

    @strawberry.field(permission_classes=[IsAdmin], description="Null: no budget.")
    async def budget(self, info: Info) -> Money | None:
        row = await self._row(info)
        return (
            None if row.budget_minor is None else Money.from_minor(row.budget_minor, row.currency)
        )

    @strawberry.field(permission_classes=[IsAdmin], description="What purchases took of it.")
    async def budget_used(self, info: Info) -> Money:
        row = await self._row(info)
        return Money.from_minor(row.budget_used_minor, row.currency)

    @strawberry.field(permission_classes=[IsAdmin], description="Purchases that used it.")
    async def uses(self, info: Info) -> int:
        return int((await self._row(info)).uses_count)

    @strawberry.field(permission_classes=[IsAdmin])
    async def per_customer_limit(self, info: Info) -> int | None:
        return (await self._row(info)).per_customer_limit

    @strawberry.field(permission_classes=[IsAdmin], description="Not in the public feed.")
    async def members_only(self, info: Info) -> bool:
        return bool((await self._row(info)).members_only)

    @strawberry.field(permission_classes=[IsAdmin], description="Null: every customer.")
    async def audience(self, info: Info) -> Audience | None:
        value = audience_of(await self._row(info))
        if not value.targeted:
            return None
        channels = (
            None
            if value.channels is None
            else [Channel.ONLINE, Channel.IN_STORE]
            if value.channels == "BOTH"
            else [Channel(value.channels)]
        )
        return Audience(
            tiers=list(value.tiers) if value.tiers is not None else None,
            min_age=value.min_age,
            max_age=value.max_age,
            generations=list(value.generations) if value.generations is not None else None,
            birthday_month=value.birthday_month,
            favorite_category=value.favorite_category,
            new_customers=value.new_customers,
            lapsed_days=value.lapsed_days,
            channels=channels,
            min_recency_score=value.min_recency,
            min_frequency_score=value.min_frequency,
            min_monetary_score=value.min_monetary,
        )

    @strawberry.field(permission_classes=[IsAdmin])
    async def translations(self, info: Info) -> list[OfferTranslation]:
        found = (await self._row(info)).translations or {}
        return [
            OfferTranslation(
                locale=locale,
                title=texts.get("title"),
                description=texts.get("description"),
                terms=texts.get("terms"),
            )
            for locale, texts in sorted(found.items())
        ]


def offers_connection(page: Page[OfferCard], languages: Sequence[str]) -> Connection[Offer]:
    return Connection.of(page, [Offer.of(card, languages) for card in page.items])


async def member_of(
    context: Context, root: ViewerRoot, at: datetime
) -> tuple[Member, segments.Profile]:
    """The viewer as audiences see them now."""
    standing = await context.loader(tiers.customer_tiers).load(root.id)
    profile = (await segments.profiles_of([root.id]))[root.id]
    currency = standing.spend.currency
    member = Member.of(
        tier_code=standing.tier.code,
        birth_date=root.birth_date,
        profile=profile,
        at=at,
        minor_units=minor_units(currency),
    )
    return member, profile


async def viewer_reader(context: Context, root: ViewerRoot, at: datetime) -> feed.Reader:
    """How the feed reads offers for the viewer now: as their audiences see them and, with
    consent to personalization, by their favourites and their average ticket."""
    member, profile = await member_of(context, root, at)
    personalized = bool(root.consent_personalization)
    return feed.Reader(
        customer_id=root.id,
        member=member,
        personalized=personalized,
        favorite_category=profile.favorite_category if personalized else None,
        favorite_merchant_ids=profile.favorite_merchant_ids if personalized else (),
        average_ticket_minor=(
            profile.spend_minor // profile.purchase_count
            if personalized and profile.purchase_count
            else 0
        ),
    )


@strawberry.type
class ViewerFields:
    @strawberry.field(
        permission_classes=[IsCustomer],
        description="Live offers for the customer, optionally at a merchant or in a category. "
        "With consent to personalization, the most relevant to them first; without it, in "
        "the program's order.",
    )
    async def offers(
        self,
        root: strawberry.Parent[ViewerRoot],
        info: Info,
        first: int = 10,
        after: str | None = None,
        merchant_id: strawberry.ID | None = None,
        category: str | None = None,
    ) -> Connection[Offer]:
        now = clock.now()
        reader = await viewer_reader(info.context, root, now)
        page = await feed.offers_for(
            reader, first=first, after=after, merchant_id=merchant_id, category=category, now=now
        )
        return offers_connection(page, wanted_languages(info.context, root.locale))


# --- inputs -------------------------------------------------------------------------------


@strawberry.input(description="Who an offer is for. Every condition given must hold.")
class AudienceInput:
    tiers: list[str] | None = None
    min_age: int | None = None
    max_age: int | None = None
    birthday_month: bool | None = strawberry.field(
        default=None, description="Only in the customer's birthday month (visible and applied)."
    )
    favorite_category: str | None = strawberry.field(
        default=None, description="The category with most of their spend in the last 180 days."
    )
    new_customers: bool | None = strawberry.field(
        default=None, description="Customers with no purchase yet."
    )
    lapsed_days: int | None = strawberry.field(
        default=None, description="Customers whose last purchase is this many days old or more."
    )
    channels: list[Channel] | None = strawberry.field(
        default=None,
        description="The channels the customer has bought in, exactly: [ONLINE] online only, "
        "[IN_STORE] in store only, both: omnichannel customers.",
    )
    generations: list[Generation] | None = None
    min_recency_score: int | None = strawberry.field(
        default=None, description="1 to 5: 5 bought within 30 days."
    )
    min_frequency_score: int | None = strawberry.field(
        default=None, description="1 to 5: 5 has 13 purchases or more."
    )
    min_monetary_score: int | None = strawberry.field(
        default=None, description="1 to 5: 5 spent 1,500 or more (in major units)."
    )

    def value(self) -> service.AudienceSpec:
        return service.AudienceSpec(
            tiers=self.tiers,
            min_age=self.min_age,
            max_age=self.max_age,
            birthday_month=self.birthday_month,
            favorite_category=self.favorite_category,
            new_customers=self.new_customers,
            lapsed_days=self.lapsed_days,
            channels=self.channels,
            generations=self.generations,
            min_recency_score=self.min_recency_score,
            min_frequency_score=self.min_frequency_score,
            min_monetary_score=self.min_monetary_score,
        )


@strawberry.input(
    description="The texts of an offer in another language; those not given "
    "stay in the program's language."
)
class OfferTranslationInput:
    locale: str
    title: str | None = None
    description: str | None = None
    terms: str | None = None

    def value(self) -> service.TranslationSpec:
        return service.TranslationSpec(
            locale=self.locale, title=self.title, description=self.description, terms=self.terms
        )


@strawberry.input
class CreateOfferInput:
    title: str
    description: str
    kind: OfferKind
    percent: Decimal | None = None
    bonus: MoneyInput | None = None
    minimum_spend: MoneyInput | None = None
    merchant_id: strawberry.ID | None = None
    category: str | None = None
    channels: list[Channel] | None = None
    starts_at: datetime
    ends_at: datetime
    terms: str
    requires_activation: bool | None = None
    per_customer_limit: int | None = None
    budget: MoneyInput | None = None
    audience: AudienceInput | None = None
    members_only: bool | None = strawberry.field(
        default=None, description="Keep it out of the public feed (an audience does too)."
    )
    translations: list[OfferTranslationInput] | None = None

    def value(self) -> service.OfferSpec:
        return service.OfferSpec(
            title=self.title,
            description=self.description,
            kind=self.kind,
            percent=self.percent,
            bonus=_money(self.bonus),
            minimum_spend=_money(self.minimum_spend),
            merchant_id=self.merchant_id,
            category=self.category,
            channels=self.channels,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            terms=self.terms,
            requires_activation=bool(self.requires_activation),
            per_customer_limit=self.per_customer_limit,
            budget=_money(self.budget),
            audience=self.audience.value() if self.audience else None,
            members_only=bool(self.members_only),
            translations=[t.value() for t in self.translations or []],
        )


@strawberry.input(description="What to change; kind, percent, bonus and scope stay as made.")
class UpdateOfferInput:
    title: str | None = None
    description: str | None = None
    terms: str | None = None
    ends_at: datetime | None = None
    minimum_spend: MoneyInput | None = strawberry.UNSET
    per_customer_limit: int | None = strawberry.UNSET
    budget: MoneyInput | None = strawberry.UNSET
    audience: AudienceInput | None = strawberry.field(
        default=strawberry.UNSET, description="null: every registered customer."
    )
    members_only: bool | None = None
    requires_activation: bool | None = None
    translations: list[OfferTranslationInput] | None = None

    def value(self) -> service.OfferChanges:
        """Fields left out stay as they are; given as null, they are removed."""
        unset = strawberry.UNSET
        keep = service.KEEP
        return service.OfferChanges(
            title=self.title,
            description=self.description,
            terms=self.terms,
            ends_at=self.ends_at,
            minimum_spend=keep if self.minimum_spend is unset else _money(self.minimum_spend),
            per_customer_limit=(
                keep if self.per_customer_limit is unset else self.per_customer_limit
            ),
            budget=keep if self.budget is unset else _money(self.budget),
            audience=(
                keep
                if self.audience is unset
                else (self.audience.value() if self.audience else None)
            ),
            members_only=self.members_only,
            requires_activation=self.requires_activation,
            translations=(
                None if self.translations is None else [t.value() for t in self.translations]
            ),
        )


@strawberry.input
class OfferFilterInput:
    status: OfferStatus | None = None
    kind: OfferKind | None = None
    merchant_id: strawberry.ID | None = None
    category: str | None = None
    live: bool | None = strawberry.field(
        default=None, description="In its window now and neither paused nor ended."
    )

    def value(self) -> service.OfferFilter:
        return service.OfferFilter(
            status=self.status,
            kind=self.kind,
            merchant_id=self.merchant_id,
            category=self.category,
            live=self.live,
        )


@strawberry.type
class OfferPayload:
    offer: Offer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CreateOfferPayload:
    offer: Offer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ActivateOfferPayload:
    offer: Offer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@node_fetcher("Offer")
async def fetch_offer(context: Context, pk: int) -> Offer | None:
    """Admins fetch any offer; anyone else only one open to everyone."""
    row = await service.get_offer(pk)
    if row is None:
        return None
    principal = context.principal
    if not (principal is not None and principal.is_admin) and (row.members_only or row.targeted):
        return None
    return Offer.of(OfferCard.of(row), wanted_languages(context))
