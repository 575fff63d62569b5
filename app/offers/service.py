"""Offers as admins manage them: created, changed, paused, resumed, ended and listed.
Every input is checked whole (each problem at its field path) before anything is written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q

from app.accounts.service import clean_locale
from app.cashback.earning import OfferKind
from app.cashback.tiers import list_tiers
from app.catalog import service as catalog
from app.catalog.errors import UnknownMerchant
from app.catalog.service import clean_text, normalize_category, parse_percent
from app.catalog.values import Channel, channels_text
from app.core import clock
from app.core.errors import DomainError, InputErrors, InvalidAmount, InvalidInput, NotFound
from app.core.ids import decode_id
from app.core.money import parse_money
from app.core.pagination import Page, keyset_page
from app.offers.audience import (
    GENERATION_YEARS,
    MAX_AGE,
    MAX_SCORE,
    Audience,
    Generation,
    audience_columns,
)
from app.offers.errors import EmptyAudience, UnknownCategory, UnknownOffer
from app.offers.models import Offer, OfferStatus
from app.program.service import get_program

MAX_TRANSLATIONS = 30
MAX_PER_CUSTOMER_LIMIT = 1_000_000
MAX_LAPSED_DAYS = 3_650
TEXT_LIMITS = {"title": 200, "description": 2_000, "terms": 10_000}

Money = tuple[Decimal, str]


@dataclass(frozen=True, slots=True)
class AudienceSpec:
    """An audience as an admin gives it (checked by `check_audience`)."""

    tiers: Sequence[str] | None = None
    min_age: int | None = None
    max_age: int | None = None
    birthday_month: bool | None = None
    favorite_category: str | None = None
    new_customers: bool | None = None
    lapsed_days: int | None = None
    channels: Sequence[Channel] | None = None
    generations: Sequence[Generation] | None = None
    min_recency_score: int | None = None
    min_frequency_score: int | None = None
    min_monetary_score: int | None = None


@dataclass(frozen=True, slots=True)
class TranslationSpec:
    locale: str
    title: str | None = None
    description: str | None = None
    terms: str | None = None


@dataclass(frozen=True, slots=True)
class OfferSpec:
    title: str
    description: str
    kind: OfferKind
    starts_at: datetime
    ends_at: datetime
    terms: str
    percent: Decimal | None = None
    bonus: Money | None = None
    minimum_spend: Money | None = None
    merchant_id: str | None = None
    category: str | None = None
    channels: Sequence[Channel] | None = None
    requires_activation: bool = False
    per_customer_limit: int | None = None
    budget: Money | None = None
    audience: AudienceSpec | None = None
    members_only: bool = False
    translations: Sequence[TranslationSpec] = field(default_factory=tuple)


# An OfferChanges field left as it is.
KEEP: Any = object()


@dataclass(frozen=True, slots=True)
class OfferChanges:
    """What `update_offer` changes: the fields given. Kind, percent, bonus and scope stay
    as created (customers may have used them); end it and create another to change those."""

    title: str | None = None
    description: str | None = None
    terms: str | None = None
    ends_at: datetime | None = None
    minimum_spend: Money | None = KEEP
    per_customer_limit: int | None = KEEP
    budget: Money | None = KEEP
    audience: AudienceSpec | None = KEEP
    members_only: bool | None = None
    requires_activation: bool | None = None
    translations: Sequence[TranslationSpec] | None = None


def offer_pk(offer_id: str, *, field: Sequence[str]) -> int:
    try:
        return decode_id(offer_id, "Offer")
    except NotFound:
        raise UnknownOffer(field=field) from None


async def get_offer(pk: int) -> Offer | None:
    return await Offer.get_or_none(id=pk)


async def offers_by_ids(ids: Sequence[int]) -> list[Offer | None]:
    found = {o.id: o for o in await Offer.filter(id__in=list(ids))}
    return [found.get(i) for i in ids]


async def _find(offer_id: str) -> Offer:
    offer = await get_offer(offer_pk(offer_id, field=["id"]))
    if offer is None:
        raise UnknownOffer(field=["id"])
    return offer


# --- checks ------------------------------------------------------------------------------


def _texts(problems: InputErrors, path: list[str], **given: str | None) -> dict[str, str]:
    texts = {}
    for name, value in given.items():
        if value is not None:
            with problems.catch():
                texts[name] = clean_text(value, field=[*path, name], max_length=TEXT_LIMITS[name])
    return texts


def _positive(problems: InputErrors, given: Money, currency: str, path: list[str]) -> int | None:
    try:
        minor = parse_money(*given, program_currency=currency, field=path).minor
    except DomainError as error:
        problems.add(error)
        return None
    if minor <= 0:
        problems.add(InvalidAmount("This amount must be above zero.", field=path))
        return None
    return minor


def _limit(problems: InputErrors, value: int | None, path: list[str]) -> int | None:
    if value is not None and not 1 <= value <= MAX_PER_CUSTOMER_LIMIT:
        problems.add(InvalidInput(f"Between 1 and {MAX_PER_CUSTOMER_LIMIT:,}.", field=path))
    return value


def check_translations(
    given: Sequence[TranslationSpec], problems: InputErrors, path: list[str]
) -> dict[str, dict[str, str]]:
    if len(given) > MAX_TRANSLATIONS:
        problems.add(InvalidInput(f"At most {MAX_TRANSLATIONS} translations.", field=path))
        return {}
    found: dict[str, dict[str, str]] = {}
    for i, spec in enumerate(given):
        at = [*path, str(i)]
        locale = None
        with problems.catch():
            locale = clean_locale(spec.locale, field=[*at, "locale"])
            if locale is None:
                raise InvalidInput("A language tag is required.", field=[*at, "locale"])
            if locale in found:
                raise InvalidInput("Each language once.", field=[*at, "locale"])
        texts = _texts(
            problems, at, title=spec.title, description=spec.description, terms=spec.terms
        )
        if not texts:
            problems.add(InvalidInput("Translate at least one text.", field=at))
        if locale is not None:
            found[locale] = texts
    return found


def _check_numbers(spec: AudienceSpec, problems: InputErrors, path: list[str]) -> None:
    """Ages, days and scores within their ranges."""
    ranges = {
        "minAge": (spec.min_age, 0, MAX_AGE, f"An age between 0 and {MAX_AGE}."),
        "maxAge": (spec.max_age, 0, MAX_AGE, f"An age between 0 and {MAX_AGE}."),
        "lapsedDays": (
            spec.lapsed_days,
            1,
            MAX_LAPSED_DAYS,
            f"Between 1 and {MAX_LAPSED_DAYS} days.",
        ),
        "minRecencyScore": (spec.min_recency_score, 1, MAX_SCORE, "A score from 1 to 5."),
        "minFrequencyScore": (spec.min_frequency_score, 1, MAX_SCORE, "A score from 1 to 5."),
        "minMonetaryScore": (spec.min_monetary_score, 1, MAX_SCORE, "A score from 1 to 5."),
    }
    for name, (value, low, high, message) in ranges.items():
        if value is not None and not low <= value <= high:
            problems.add(InvalidInput(message, field=[*path, name]))


async def check_audience(spec: AudienceSpec, problems: InputErrors, path: list[str]) -> Audience:
    """The audience to store; an audience no customer can ever be in is refused."""
    before = len(problems.errors)
    tiers = None
    if spec.tiers is not None:
        known = {t.code for t in await list_tiers()}
        tiers = tuple(dict.fromkeys(t.strip().upper() for t in spec.tiers))
        unknown = [t for t in tiers if t not in known]
        if unknown or not tiers:
            problems.add(
                InvalidInput(
                    f"Tiers are some of {', '.join(sorted(known))}.", field=[*path, "tiers"]
                )
            )
    _check_numbers(spec, problems, path)
    category = None
    if spec.favorite_category is not None:
        with problems.catch():
            category = await _category(spec.favorite_category, [*path, "favoriteCategory"])
    generations = None
    if spec.generations is not None:
        generations = tuple(g for g in Generation if g in set(spec.generations))
        if not generations:
            problems.add(InvalidInput("Name at least one.", field=[*path, "generations"]))
    channels = None
    if spec.channels is not None:
        used = {Channel(c) for c in spec.channels}
        channels = "BOTH" if len(used) == 2 else next(iter(used)).value if used else None
        if not used:
            problems.add(InvalidInput("Name at least one channel.", field=[*path, "channels"]))
    audience = Audience(
        tiers=tiers,
        min_age=spec.min_age,
        max_age=spec.max_age,
        generations=generations,
        birthday_month=bool(spec.birthday_month),
        favorite_category=normalize_category(category),
        new_customers=bool(spec.new_customers),
        lapsed_days=spec.lapsed_days,
        channels=channels,
        min_recency=spec.min_recency_score,
        min_frequency=spec.min_frequency_score,
        min_monetary=spec.min_monetary_score,
    )
    if len(problems.errors) == before:
        reason = _nobody(audience)
        if reason:
            problems.add(EmptyAudience(reason, field=path))
    return audience


def _nobody(audience: Audience) -> str | None:
    """Why no customer can be in this audience, if none can."""
    a = audience
    if a.min_age is not None and a.max_age is not None and a.min_age > a.max_age:
        return "minAge is above maxAge."
    history = (
        a.lapsed_days is not None
        or a.favorite_category is not None
        or a.channels is not None
        or any(s is not None for s in (a.min_recency, a.min_frequency, a.min_monetary))
    )
    if a.new_customers and history:
        return (
            "New customers have no purchases: they cannot also be lapsed, have a "
            "favourite category, channels used or scores."
        )
    if a.generations is not None and (a.min_age is not None or a.max_age is not None):
        year = clock.now().year
        low, high = a.min_age or 0, MAX_AGE if a.max_age is None else a.max_age
        # Someone born in year y is y_now - y - 1 or y_now - y years old.
        if not any(
            year - last - 1 <= high and year - first >= low
            for first, last in (GENERATION_YEARS[g] for g in a.generations)
        ):
            return "No one of these generations is in this age range."
    return None


async def _category(name: str, path: list[str]) -> str:
    text = " ".join(clean_text(name, field=path, max_length=80).split())
    if not await catalog.has_category(text):
        raise UnknownCategory(field=path)
    return text


async def _merchant(merchant_id: str, path: list[str]) -> int:
    pk = catalog.merchant_pk(merchant_id, field=path)
    if await catalog.get_merchant(pk) is None:
        raise UnknownMerchant(field=path)
    return pk


# --- use cases ---------------------------------------------------------------------------


async def _kind_values(spec: OfferSpec, problems: InputErrors, currency: str) -> dict[str, Any]:
    values: dict[str, Any] = {"kind": spec.kind}
    if spec.kind == OfferKind.BOOSTED_CASHBACK:
        if spec.percent is None:
            problems.add(InvalidInput("A boosted offer has a percent.", field=["input", "percent"]))
        else:
            with problems.catch():
                percent = parse_percent(spec.percent, field=["input", "percent"])
                if percent <= 0:
                    raise InvalidInput("The percent must be above 0.", field=["input", "percent"])
                values["percent"] = percent
        if spec.bonus is not None:
            problems.add(InvalidInput("A boosted offer has no bonus.", field=["input", "bonus"]))
    else:
        if spec.bonus is None:
            problems.add(InvalidInput("A bonus offer has a bonus.", field=["input", "bonus"]))
        else:
            values["bonus_minor"] = _positive(problems, spec.bonus, currency, ["input", "bonus"])
        if spec.percent is not None:
            problems.add(InvalidInput("A bonus offer has no percent.", field=["input", "percent"]))
    return values


async def create_offer(spec: OfferSpec) -> Offer:
    program = await get_program()
    currency = program.currency_code
    now = clock.now()
    problems = InputErrors()
    values: dict[str, Any] = dict(
        _texts(
            problems, ["input"], title=spec.title, description=spec.description, terms=spec.terms
        )
    )
    values.update(await _kind_values(spec, problems, currency))
    if spec.minimum_spend is not None:
        with problems.catch():
            values["minimum_spend_minor"] = parse_money(
                *spec.minimum_spend, program_currency=currency, field=["input", "minimumSpend"]
            ).minor
    if spec.merchant_id is not None:
        with problems.catch():
            values["merchant_id"] = await _merchant(spec.merchant_id, ["input", "merchantId"])
    if spec.category is not None:
        with problems.catch():
            values["category"] = await _category(spec.category, ["input", "category"])
            values["category_key"] = normalize_category(values["category"])
    starts_at, ends_at = clock.as_utc(spec.starts_at), clock.as_utc(spec.ends_at)
    if ends_at <= starts_at:
        problems.add(InvalidInput("endsAt must be after startsAt.", field=["input", "endsAt"]))
    elif ends_at <= now:
        problems.add(InvalidInput("endsAt must be in the future.", field=["input", "endsAt"]))
    values["per_customer_limit"] = _limit(
        problems, spec.per_customer_limit, ["input", "perCustomerLimit"]
    )
    if spec.budget is not None:
        values["budget_minor"] = _positive(problems, spec.budget, currency, ["input", "budget"])
    audience = Audience()
    if spec.audience is not None:
        audience = await check_audience(spec.audience, problems, ["input", "audience"])
    translations = check_translations(spec.translations, problems, ["input", "translations"])
    problems.raise_any()
    return await Offer.create(
        **values,
        **audience_columns(audience),
        translations=translations or None,
        currency=currency,
        channels=channels_text(spec.channels),
        starts_at=starts_at,
        ends_at=ends_at,
        requires_activation=spec.requires_activation,
        members_only=spec.members_only,
        status=OfferStatus.ACTIVE,
        created_at=now,
        updated_at=now,
    )


async def update_offer(offer_id: str, changes: OfferChanges) -> Offer:
    offer = await _find(offer_id)
    problems = InputErrors()
    values: dict[str, Any] = dict(
        _texts(
            problems,
            ["input"],
            title=changes.title,
            description=changes.description,
            terms=changes.terms,
        )
    )
    if changes.ends_at is not None:
        values["ends_at"] = _new_end(offer, changes.ends_at, problems)
    values.update(_amount_changes(offer, changes, problems))
    if changes.audience is not KEEP:
        audience = Audience()
        if changes.audience is not None:
            audience = await check_audience(changes.audience, problems, ["input", "audience"])
        values.update(audience_columns(audience))
    if changes.members_only is not None:
        values["members_only"] = changes.members_only
    if changes.requires_activation is not None:
        values["requires_activation"] = changes.requires_activation
    if changes.translations is not None:
        found = check_translations(changes.translations, problems, ["input", "translations"])
        values["translations"] = found or None
    problems.raise_any()
    return await _save(offer, values)


def _new_end(offer: Offer, given: datetime, problems: InputErrors) -> datetime:
    ends_at = clock.as_utc(given)
    if offer.status == OfferStatus.ENDED:
        # Its end is when it was ended; it does not open again.
        problems.add(InvalidInput("This offer has ended.", field=["input", "endsAt"]))
    elif ends_at <= offer.starts_at or ends_at <= clock.now():
        problems.add(
            InvalidInput(
                "endsAt must be after startsAt and in the future.", field=["input", "endsAt"]
            )
        )
    return ends_at


def _amount_changes(offer: Offer, changes: OfferChanges, problems: InputErrors) -> dict[str, Any]:
    values: dict[str, Any] = {}
    currency = offer.currency
    if changes.minimum_spend is not KEEP:
        values["minimum_spend_minor"] = None
        if changes.minimum_spend is not None:
            with problems.catch():
                values["minimum_spend_minor"] = parse_money(
                    *changes.minimum_spend,
                    program_currency=currency,
                    field=["input", "minimumSpend"],
                ).minor
    if changes.per_customer_limit is not KEEP:
        values["per_customer_limit"] = _limit(
            problems, changes.per_customer_limit, ["input", "perCustomerLimit"]
        )
    if changes.budget is not KEEP:
        values["budget_minor"] = None
        if changes.budget is not None:
            budget = _positive(problems, changes.budget, currency, ["input", "budget"])
            if budget is not None and budget < offer.budget_used_minor:
                problems.add(
                    InvalidAmount(
                        "The budget cannot be below what was already used.",
                        field=["input", "budget"],
                    )
                )
            values["budget_minor"] = budget
    return values


async def _save(offer: Offer, values: dict[str, Any]) -> Offer:
    values["updated_at"] = clock.now()
    # Only the columns changed: a purchase may be consuming the budget at this moment,
    # so a new budget is written only if it still covers what was used.
    query = Offer.filter(id=offer.id)
    if values.get("budget_minor") is not None:
        query = query.filter(budget_used_minor__lte=values["budget_minor"])
    if not await query.update(**values):
        raise InvalidAmount(
            "The budget cannot be below what was already used.", field=["input", "budget"]
        )
    return await Offer.get(id=offer.id)


async def set_status(offer_id: str, status: OfferStatus) -> Offer:
    """Pause, resume or end an offer. An ended offer stays ended; a paused one applies to
    no purchase until it is resumed."""
    offer = await _find(offer_id)
    if offer.status == OfferStatus.ENDED and status != OfferStatus.ENDED:
        raise InvalidInput("This offer has ended; create a new one.", field=["id"])
    values: dict[str, Any] = {"status": status}
    now = clock.now()
    if status == OfferStatus.ENDED and offer.ends_at > now:
        values["ends_at"] = max(now, offer.starts_at)
    return await _save(offer, values)


@dataclass(frozen=True, slots=True)
class OfferFilter:
    status: OfferStatus | None = None
    kind: OfferKind | None = None
    merchant_id: str | None = None
    category: str | None = None
    live: bool | None = None  # in its window now (and not paused or ended)


async def list_offers(*, first: int, after: str | None, where: OfferFilter) -> Page[Offer]:
    """Every offer, newest first, for admins."""
    query = Offer.all()
    if where.status is not None:
        query = query.filter(status=where.status)
    if where.kind is not None:
        query = query.filter(kind=where.kind)
    if where.merchant_id is not None:
        query = query.filter(
            merchant_id=catalog.merchant_pk(where.merchant_id, field=["merchantId"])
        )
    if where.category is not None:
        query = query.filter(category_key=normalize_category(where.category))
    if where.live is not None:
        now = clock.now()
        live = Q(status=OfferStatus.ACTIVE, starts_at__lte=now, ends_at__gt=now)
        query = query.filter(live if where.live else ~live)
    return await keyset_page(query, first=first, after=after, order_by=("-id",))
