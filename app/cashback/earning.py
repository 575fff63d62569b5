"""How much cashback a purchase earns: a pure function over plain data (no database, no
clock), shared by `recordPurchase` and `cashbackPreview` so both always agree.

The rules (SEMANTICS.md, "Earning cashback"):
- Cashback is earned on what was paid with money: the total less credits used and less
  redemptions captured for the order. It is split over the items in proportion to their
  amounts (or the whole total is one line when no items are given).
- Each line earns at the best percent among the merchant's percent and every matching rule
  (merchant, category, channel, window, the purchase total reaching the rule's minimum
  spend). The customer's tier multiplies those percents.
- A rule's `max_cashback_minor` caps what that rule gives in the purchase. Once a capped rule
  has given its maximum, the rest of the line earns at the next best percent, so a capped
  promotion never leaves a customer with less than they would have earned without it.
  Lines take from a cap in the order they were given.
- Offers (app/offers, through cashback's offers seam): a boosted offer is one more candidate
  percent for the lines it matches (not multiplied by the tier; offers do not stack, the
  best percent wins, and a line uses one offer at most). An offer gives at most what is
  left of its budget; the rest of the line earns as it would without offers. A bonus offer
  adds its bonus once per qualifying purchase (the largest one whose budget covers it).
- The credit is the exact sum rounded down to the minor unit. The explanation lists one part
  per source (merchant, rule, offer) with its percent, the base it applied to and its
  amount; the parts' amounts add up exactly to the credit.
- A purchase that earns nothing carries a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from math import floor
from typing import Any, Protocol, TypeVar

from app.core.decimals import plain_decimal

HUNDRED = Fraction(100)


class NoCashbackReason(StrEnum):
    PAID_WITH_CREDITS = "PAID_WITH_CREDITS"
    NOTHING_PAID = "NOTHING_PAID"
    NO_MATCHING_RULE = "NO_MATCHING_RULE"
    BELOW_MINIMUM_SPEND = "BELOW_MINIMUM_SPEND"
    TOO_SMALL = "TOO_SMALL"


REASON_MESSAGES = {
    NoCashbackReason.PAID_WITH_CREDITS: "Paid with credits: no cashback is earned on credits.",
    NoCashbackReason.NOTHING_PAID: "Nothing was paid, so nothing was earned.",
    NoCashbackReason.NO_MATCHING_RULE: "No cashback rule applies to this purchase.",
    NoCashbackReason.BELOW_MINIMUM_SPEND: "The purchase is below the rules' minimum spend.",
    NoCashbackReason.TOO_SMALL: "The cashback rounds down to less than the smallest unit.",
}


@dataclass(frozen=True, slots=True)
class Line:
    """An item of the purchase (or the whole purchase): its amount and category."""

    amount_minor: int
    category: str | None = None  # normalised (see catalog.service.normalize_category)
    sku: str | None = None


@dataclass(frozen=True, slots=True)
class RuleTerms:
    id: int
    name: str
    percent: Decimal
    merchant_id: int | None = None
    category: str | None = None  # normalised
    channels: frozenset[str] | None = None
    minimum_spend_minor: int | None = None
    max_cashback_minor: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def in_window(self, at: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= at) and (
            self.ends_at is None or at < self.ends_at
        )


class OfferKind(StrEnum):
    BOOSTED_CASHBACK = "BOOSTED_CASHBACK"
    BONUS_CREDITS = "BONUS_CREDITS"


@dataclass(frozen=True, slots=True)
class OfferTerms:
    """An offer the customer is eligible for (audience, window, activation, limits and budget
    already checked by the offers feature); matching lines is done here."""

    id: int
    title: str
    kind: OfferKind
    percent: Decimal | None = None
    bonus_minor: int | None = None
    merchant_id: int | None = None
    category: str | None = None  # normalised
    channels: frozenset[str] | None = None
    minimum_spend_minor: int | None = None
    # What is left of the offer's budget: it gives at most this in the purchase.
    budget_left_minor: int | None = None


@dataclass(frozen=True, slots=True)
class TierTerms:
    code: str
    name: str
    multiplier: Decimal


@dataclass(frozen=True, slots=True)
class PurchaseFacts:
    merchant_id: int
    merchant_name: str
    merchant_percent: Decimal
    channel: str
    occurred_at: datetime
    total_minor: int
    credits_used_minor: int = 0
    redeemed_minor: int = 0
    lines: Sequence[Line] | None = None

    @property
    def paid_minor(self) -> int:
        return max(0, self.total_minor - self.credits_used_minor - self.redeemed_minor)


@dataclass(frozen=True, slots=True)
class Part:
    """One line of the explanation. `percent` and `base_minor` are None for a fixed bonus."""

    label: str
    percent: Decimal | None
    base_minor: int | None
    amount_minor: int
    source: str  # "merchant", "rule:<id>", "offer:<id>"

    def as_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "percent": None if self.percent is None else str(self.percent),
            "base": self.base_minor,
            "amount": self.amount_minor,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Part:
        percent = data.get("percent")
        base = data.get("base")
        return cls(
            label=str(data["label"]),
            percent=None if percent is None else Decimal(str(percent)),
            base_minor=None if base is None else int(base),
            amount_minor=int(data["amount"]),
            source=str(data.get("source", "")),
        )


@dataclass(frozen=True, slots=True)
class Earning:
    amount_minor: int
    parts: list[Part]
    reason: NoCashbackReason | None
    paid_minor: int
    tier_code: str
    rule_ids: tuple[int, ...] = ()
    offer_ids: tuple[int, ...] = ()


@dataclass
class _Candidate:
    source: str
    label: str
    percent: Decimal  # as shown, the tier multiplier included
    rate: Fraction  # percent / 100
    cap: Fraction | None  # what is left to give under the rule's cap, in minor units
    order: int
    # Best percent first; between equals an uncapped one, then the earliest source. Fixed at
    # creation (a cap only shrinks, never vanishes). The shown percent is exactly 100 x
    # rate, and decimals compare several times faster than fractions.
    rank: tuple[Decimal, bool, int] = field(init=False)

    def __post_init__(self) -> None:
        self.rank = (-self.percent, self.cap is not None, self.order)


@dataclass
class _Accrual:
    candidate: _Candidate
    base: Fraction = Fraction(0)
    amount: Fraction = Fraction(0)
    lines: set[int] = field(default_factory=set)


@lru_cache(maxsize=4096)
def _rate(percent: Decimal, multiplier: Decimal = Decimal(1)) -> Fraction:
    """percent x multiplier / 100, exactly (the same few values come again and again)."""
    return Fraction(percent) * Fraction(multiplier) / HUNDRED


@lru_cache(maxsize=4096)
def _shown(percent: Decimal, multiplier: Decimal = Decimal(1)) -> Decimal:
    return plain_decimal(percent * multiplier)


def _matches(
    *,
    merchant_id: int | None,
    category: str | None,
    channels: frozenset[str] | None,
    facts: PurchaseFacts,
    line: Line,
) -> bool:
    return (
        (merchant_id is None or merchant_id == facts.merchant_id)
        and (category is None or category == line.category)
        and (not channels or facts.channel in channels)
    )


def _tier_label(label: str, tier: TierTerms) -> str:
    if tier.multiplier == 1:
        return label
    return f"{label} ({tier.name} tier x{plain_decimal(tier.multiplier)})"


def _largest_remainder(exact: Sequence[Fraction], total: int) -> list[int]:
    """Whole numbers, each the floor or ceiling of its exact value, that add up to `total`."""
    floors = [floor(x) for x in exact]
    left = total - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[: max(0, left)]:
        floors[i] += 1
    return floors


def _line_bases(facts: PurchaseFacts, paid: int) -> list[tuple[Line, Fraction]]:
    lines = list(facts.lines or [])
    amount = sum(line.amount_minor for line in lines)
    if not lines or amount <= 0:
        return [(Line(amount_minor=facts.total_minor), Fraction(paid))]
    return [(line, Fraction(paid) * line.amount_minor / amount) for line in lines]


def _best_first(candidate: _Candidate) -> tuple[Decimal, bool, int]:
    return candidate.rank


def _reachable(candidates: list[_Candidate]) -> list[_Candidate]:
    """The candidates a line can reach, best first: none after the best uncapped one that is
    not an offer, which takes all that is left (an offer may be passed over when the line
    already used one)."""
    stops = [c for c in candidates if c.cap is None and not c.source.startswith("offer:")]
    if not stops:
        return candidates
    last = _best_first(min(stops, key=_best_first))
    return [c for c in candidates if _best_first(c) <= last]


class _Scope(Protocol):
    """Where a rule or an offer applies."""

    @property
    def merchant_id(self) -> int | None: ...
    @property
    def category(self) -> str | None: ...
    @property
    def channels(self) -> frozenset[str] | None: ...


_Scoped = TypeVar("_Scoped", bound=_Scope)


def _on_some_line(
    terms: Iterable[_Scoped], facts: PurchaseFacts, bases: Sequence[tuple[Line, Fraction]]
) -> list[_Scoped]:
    """The rules or offers that match one of the lines at least (`_matches`, with what does
    not depend on the line tested once): a program may have dozens of rules and a customer
    hundreds of offers for other merchants and categories, and an estimate asks for each of
    a dozen products."""
    merchant_id, channel = facts.merchant_id, facts.channel
    categories = {line.category for line, _ in bases}
    return [
        o
        for o in terms
        if (o.merchant_id is None or o.merchant_id == merchant_id)
        and (o.category is None or o.category in categories)
        and (not o.channels or channel in o.channels)
    ]


def _offers_reached(
    boosted: list[OfferTerms],
    facts: PurchaseFacts,
    bases: Sequence[tuple[Line, Fraction]],
    order: dict[int, int],
) -> list[OfferTerms]:
    """The boosted offers some line can reach. A line takes one offer at most: the best
    whose budget is not spent, and only another line's use spends it. So a line never goes
    past its first uncapped offer, nor past as many offers with a budget left as there are
    lines. (A customer may hold dozens of offers for every product: an estimate would
    otherwise weigh them all, for each of a dozen products.)"""
    ranked = sorted(
        boosted, key=lambda o: (-(o.percent or 0), o.budget_left_minor is not None, order[o.id])
    )
    reached: set[int] = set()
    for line, _ in bases:
        with_budget = 0
        for o in ranked:
            if not _matches(
                merchant_id=o.merchant_id,
                category=o.category,
                channels=o.channels,
                facts=facts,
                line=line,
            ):
                continue
            reached.add(o.id)
            if o.budget_left_minor is None:
                break
            if o.budget_left_minor > 0:
                with_budget += 1
                if with_budget >= len(bases):
                    break
    return [o for o in boosted if o.id in reached]


def _live_rules(
    rules: Sequence[RuleTerms], facts: PurchaseFacts
) -> tuple[list[RuleTerms], list[RuleTerms]]:
    """The rules in their window at the purchase: those whose minimum spend it reaches,
    and the others."""
    reaching: list[RuleTerms] = []
    below_minimum: list[RuleTerms] = []
    for r in rules:
        if r.in_window(facts.occurred_at):
            minimum = r.minimum_spend_minor
            if minimum is None or facts.total_minor >= minimum:
                reaching.append(r)
            else:
                below_minimum.append(r)
    return reaching, below_minimum


def compute_cashback(
    facts: PurchaseFacts,
    *,
    rules: Sequence[RuleTerms],
    tier: TierTerms,
    offers: Sequence[OfferTerms] = (),
) -> Earning:
    paid = facts.paid_minor
    multiplier = tier.multiplier
    line_bases = _line_bases(facts, paid)
    # Rules in their window, reaching their minimum spend or not.
    reaching, below_minimum = _live_rules(rules, facts)
    # Each reaching rule's place among them all (the order of its part), then only those
    # a line may take.
    places = {r.id: 1 + i for i, r in enumerate(sorted(reaching, key=lambda r: r.id))}
    reaching = _on_some_line(reaching, facts, line_bases)
    below_minimum = _on_some_line(below_minimum, facts, line_bases)

    merchant = _Candidate(
        source="merchant",
        label=_tier_label(f"{facts.merchant_name} cashback", tier),
        percent=_shown(facts.merchant_percent, multiplier),
        rate=_rate(facts.merchant_percent, multiplier),
        cap=None,
        order=0,
    )
    rule_candidates = {
        r.id: _Candidate(
            source=f"rule:{r.id}",
            label=_tier_label(r.name, tier),
            percent=_shown(r.percent, multiplier),
            rate=_rate(r.percent, multiplier),
            cap=None if r.max_cashback_minor is None else Fraction(r.max_cashback_minor),
            order=places[r.id],
        )
        for r in reaching
    }
    # Only offers for one of the purchase's lines become candidates (a customer may hold
    # hundreds of offers for other merchants and categories).
    usable = _on_some_line(offers, facts, line_bases)
    # The merchant's percent, uncapped, is the floor of every line: an offer at or below it
    # is never reached.
    boosted = [
        o
        for o in usable
        if o.kind == OfferKind.BOOSTED_CASHBACK
        and o.percent is not None
        and (o.minimum_spend_minor is None or facts.total_minor >= o.minimum_spend_minor)
        and o.percent > merchant.percent  # both shown percents: 100 x their rates
    ]
    order = {o.id: 10_000 + i for i, o in enumerate(sorted(boosted, key=lambda o: o.id))}
    boosted = _offers_reached(boosted, facts, line_bases, order)
    offer_candidates = {
        o.id: _Candidate(
            source=f"offer:{o.id}",
            label=o.title,
            percent=_shown(o.percent),
            rate=_rate(o.percent),
            cap=None if o.budget_left_minor is None else Fraction(o.budget_left_minor),
            order=order[o.id],
        )
        for o in boosted
    }

    accruals: dict[str, _Accrual] = {}
    any_candidate = False
    any_below_minimum = False
    for index, (line, base) in enumerate(line_bases):
        candidates = [merchant] if merchant.percent > 0 else []
        candidates += [
            rule_candidates[r.id]
            for r in reaching
            if rule_candidates[r.id].percent > 0
            and _matches(
                merchant_id=r.merchant_id,
                category=r.category,
                channels=r.channels,
                facts=facts,
                line=line,
            )
        ]
        candidates += [
            offer_candidates[o.id]
            for o in boosted
            if offer_candidates[o.id].percent > 0
            and _matches(
                merchant_id=o.merchant_id,
                category=o.category,
                channels=o.channels,
                facts=facts,
                line=line,
            )
        ]
        any_candidate = any_candidate or bool(candidates)
        any_below_minimum = any_below_minimum or any(
            r.percent > 0
            and _matches(
                merchant_id=r.merchant_id,
                category=r.category,
                channels=r.channels,
                facts=facts,
                line=line,
            )
            for r in below_minimum
        )
        # Best percent first; between equals an uncapped one, then the earliest source.
        candidates = _reachable(candidates)
        candidates.sort(key=_best_first)
        remaining = base
        offer_used = False
        for candidate in candidates:
            if remaining <= 0:
                break
            if candidate.cap is not None and candidate.cap <= 0:
                continue
            # One offer per item: when its budget runs out, the rest earns as without offers.
            is_offer = candidate.source.startswith("offer:")
            if is_offer and offer_used:
                continue
            offer_used = offer_used or is_offer
            give = remaining * candidate.rate
            covered = remaining
            if candidate.cap is not None and give > candidate.cap:
                give = candidate.cap
                covered = give / candidate.rate
            if candidate.cap is not None:
                candidate.cap -= give
            accrual = accruals.setdefault(candidate.source, _Accrual(candidate))
            accrual.base += covered
            accrual.amount += give
            accrual.lines.add(index)
            remaining -= covered

    ordered = sorted(accruals.values(), key=lambda a: a.candidate.order)
    exact_total = sum((a.amount for a in ordered), Fraction(0))
    credit = floor(exact_total)
    amounts = _largest_remainder([a.amount for a in ordered], credit)
    bases = _largest_remainder(
        [a.base for a in ordered], round(sum((a.base for a in ordered), Fraction(0)))
    )
    parts = [
        Part(
            label=a.candidate.label,
            percent=a.candidate.percent,
            base_minor=base,
            amount_minor=amount,
            source=a.candidate.source,
        )
        for a, amount, base in zip(ordered, amounts, bases, strict=True)
        if amount > 0
    ]

    bonuses = [
        o
        for o in usable
        if o.kind == OfferKind.BONUS_CREDITS
        and (o.bonus_minor or 0) > 0
        and (o.budget_left_minor is None or o.budget_left_minor >= (o.bonus_minor or 0))
        and (o.minimum_spend_minor is None or facts.total_minor >= o.minimum_spend_minor)
    ]
    if bonuses:
        bonus = max(bonuses, key=lambda o: (o.bonus_minor or 0, -o.id))
        parts.append(
            Part(
                label=bonus.title,
                percent=None,
                base_minor=None,
                amount_minor=int(bonus.bonus_minor or 0),
                source=f"offer:{bonus.id}",
            )
        )

    amount = sum(p.amount_minor for p in parts)
    reason: NoCashbackReason | None = None
    if amount == 0:
        if paid == 0:
            reason = (
                NoCashbackReason.PAID_WITH_CREDITS
                if facts.credits_used_minor + facts.redeemed_minor > 0
                else NoCashbackReason.NOTHING_PAID
            )
        elif not any_candidate:
            reason = (
                NoCashbackReason.BELOW_MINIMUM_SPEND
                if any_below_minimum
                else NoCashbackReason.NO_MATCHING_RULE
            )
        else:
            reason = NoCashbackReason.TOO_SMALL
    sources = [p.source for p in parts]
    return Earning(
        amount_minor=amount,
        parts=parts,
        reason=reason,
        paid_minor=paid,
        tier_code=tier.code,
        rule_ids=tuple(int(s.split(":")[1]) for s in sources if s.startswith("rule:")),
        offer_ids=tuple(int(s.split(":")[1]) for s in sources if s.startswith("offer:")),
    )
