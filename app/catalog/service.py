"""Catalogue use cases: merchants, stores and products. No GraphQL here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from app.catalog.models import Channel, Merchant, Product, Store
from app.core import clock
from app.core.errors import DomainError, DomainErrors, ErrorCode, InvalidInput
from app.core.money import Money
from app.core.pagination import (
    Page,
    decode_cursor,
    encode_cursor,
    key_check,
    keyset_page,
    page_size,
)
from app.db import numbered
from app.program.service import get_program

MAX_PRODUCTS_PER_REQUEST = 1_000
MAX_PERCENT = Decimal(100)
PERCENT_PLACES = 4
# Rows per INSERT statement when upserting products (well under every driver's
# parameter limit: 9 parameters a row).
UPSERT_CHUNK = 500


class UnknownMerchant(DomainError):
    code = ErrorCode.UNKNOWN_MERCHANT
    default_message = "No merchant has this id."


class UnknownStore(DomainError):
    code = ErrorCode.UNKNOWN_STORE
    default_message = "No store has this id."


class TooManyItems(DomainError):
    code = ErrorCode.TOO_MANY_ITEMS
    default_message = "Too many items in one request."


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """A store with what earning needs of its merchant, read in one query."""

    id: int
    name: str
    channel: Channel
    merchant_id: int
    merchant_name: str
    merchant_percent: Decimal


@dataclass(frozen=True, slots=True)
class ProductData:
    sku: str
    name: str
    category: str
    price_amount: Decimal
    price_currency: str
    image_url: str | None = None


def plain_percent(value: Decimal) -> Decimal:
    """5.5000 -> 5.5, 5.0000 -> 5: the same text on every database."""
    value = Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()


def parse_percent(value: Decimal | str, *, field: Sequence[str]) -> Decimal:
    """A client's percent: between 0 and 100 with at most 4 decimals."""
    try:
        percent = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput("The percent is not a number.", field=field) from None
    if not percent.is_finite() or not Decimal(0) <= percent <= MAX_PERCENT:
        raise InvalidInput("The percent must be between 0 and 100.", field=field)
    exponent = percent.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PERCENT_PLACES:
        raise InvalidInput("The percent has at most 4 decimals.", field=field)
    return plain_percent(percent)


def clean_text(value: str | None, *, field: Sequence[str], max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput("This must not be empty.", field=field)
    if len(text) > max_length:
        raise InvalidInput(f"At most {max_length} characters.", field=field)
    return text


def clean_url(value: str | None, *, field: Sequence[str]) -> str | None:
    if value is None or not value.strip():
        return None
    url = value.strip()
    if not url.startswith(("https://", "http://")) or len(url) > 500 or " " in url:
        raise InvalidInput("An http(s) URL of at most 500 characters.", field=field)
    return url


def normalize_category(value: str | None) -> str | None:
    """Categories compare without regard to case or surrounding spaces."""
    if value is None:
        return None
    text = " ".join(value.split())
    return text.casefold() if text else None


# --- merchants and stores -------------------------------------------------------------


async def create_merchant(
    *, name: str, logo_url: str | None, cashback_percent: Decimal
) -> Merchant:
    errors: list[DomainError] = []
    clean: dict[str, Any] = {}  # the checked value of each column
    for key, check in (
        ("name", lambda: clean_text(name, field=["input", "name"], max_length=120)),
        ("logo_url", lambda: clean_url(logo_url, field=["input", "logoUrl"])),
        (
            "cashback_percent",
            lambda: parse_percent(cashback_percent, field=["input", "cashbackPercent"]),
        ),
    ):
        try:
            clean[key] = check()
        except DomainError as error:
            errors.append(error)
    if errors:
        raise DomainErrors(errors)
    return await Merchant.create(**clean, created_at=clock.now())


async def create_store(*, merchant_id: int, name: str, channel: Channel) -> Store:
    clean_name = clean_text(name, field=["input", "name"], max_length=120)
    if not await Merchant.exists(id=merchant_id):
        raise UnknownMerchant(field=["input", "merchantId"])
    return await Store.create(
        merchant_id=merchant_id, name=clean_name, channel=channel, created_at=clock.now()
    )


async def get_merchant(merchant_id: int) -> Merchant | None:
    return await Merchant.get_or_none(id=merchant_id)


async def get_store(store_id: int) -> Store | None:
    return await Store.get_or_none(id=store_id)


async def get_product(product_id: int) -> Product | None:
    return await Product.get_or_none(id=product_id)


async def list_merchants(*, first: int, after: str | None) -> Page[Merchant]:
    return await keyset_page(Merchant.all(), first=first, after=after, order_by=("name", "id"))


_UPSERT_COLUMNS = (
    "merchant_id",
    "sku",
    "name",
    "category",
    "price_minor",
    "currency",
    "image_url",
    "created_at",
    "updated_at",
)
# Every column of a product row (the upsert's, and the id).
_PRODUCT_COLUMNS = ("id", *_UPSERT_COLUMNS)


def _product_after(after: str | None) -> int | None:
    """The id a products cursor holds (products are listed by id)."""
    if not after:
        return None
    [last_id] = decode_cursor(after, 1, [key_check(Product._meta.fields_map["id"])])
    return int(last_id)


async def products_of_merchants(
    *, merchant_ids: Sequence[int], first: int, after: str | None, category: str | None = None
) -> dict[int, Page[Product]]:
    """A page of products (by id, optionally of one category) of each merchant, in one
    statement however many merchants: each merchant's first `first + 1` rows are numbered
    with ROW_NUMBER() (the extra row says whether there is a next page)."""
    limit = page_size(first)
    last_id = _product_after(after)
    wanted = sorted(set(merchant_ids))
    pages: dict[int, Page[Product]] = {
        i: Page(items=[], cursors=[], has_next_page=False) for i in wanted
    }
    if not wanted:
        return pages
    where = [f"merchant_id IN ({', '.join('?' for _ in wanted)})"]
    values: list[object] = list(wanted)
    if last_id is not None:
        where.append("id > ?")
        values.append(last_id)
    if category and category.strip():
        # As Tortoise's `iexact`: the same rows on SQLite and PostgreSQL.
        where.append("UPPER(category) = UPPER(?)")
        values.append(" ".join(category.split()))
    values.append(limit + 1)
    columns = ", ".join(_PRODUCT_COLUMNS)
    # Only names and placeholders are formatted in; values are parameters.
    sql = (
        f"SELECT {columns} FROM (SELECT {columns}, "  # noqa: S608
        "ROW_NUMBER() OVER (PARTITION BY merchant_id ORDER BY id) AS position "
        f"FROM {Product._meta.db_table} WHERE {' AND '.join(where)}) AS ranked "
        "WHERE position <= ? ORDER BY merchant_id, id"
    )
    conn = get_connection("default")
    if conn.capabilities.dialect == "postgres":
        sql = numbered(sql)
    rows = await conn.executor_class(model=Product, db=conn).execute_select(sql, values)
    by_merchant: dict[int, list[Product]] = {i: [] for i in wanted}
    for row in rows:
        by_merchant[row.merchant_id].append(row)
    for merchant_id, found in by_merchant.items():
        items = found[:limit]
        pages[merchant_id] = Page(
            items=items,
            cursors=[encode_cursor([p.id]) for p in items],
            has_next_page=len(found) > limit,
        )
    return pages


async def store_infos(store_ids: Iterable[int]) -> dict[int, StoreInfo]:
    """Stores by id, each with its merchant's name and percent (one query)."""
    ids = sorted(set(store_ids))
    if not ids:
        return {}
    rows = await Store.filter(id__in=ids).values(
        "id", "name", "channel", "merchant_id", "merchant__name", "merchant__cashback_percent"
    )
    return {
        row["id"]: StoreInfo(
            id=row["id"],
            name=row["name"],
            channel=Channel(row["channel"]),
            merchant_id=row["merchant_id"],
            merchant_name=row["merchant__name"],
            merchant_percent=Decimal(row["merchant__cashback_percent"]),
        )
        for row in rows
    }


async def store_info(store_id: int) -> StoreInfo:
    """The store, or UnknownStore."""
    found = (await store_infos([store_id])).get(store_id)
    if found is None:
        raise UnknownStore()
    return found


async def merchants_by_ids(ids: Sequence[int]) -> list[Merchant | None]:
    rows = {m.id: m for m in await Merchant.filter(id__in=set(ids))}
    return [rows.get(i) for i in ids]


async def stores_by_ids(ids: Sequence[int]) -> list[Store | None]:
    rows = {s.id: s for s in await Store.filter(id__in=set(ids))}
    return [rows.get(i) for i in ids]


async def stores_of_merchants(merchant_ids: Sequence[int]) -> list[list[Store]]:
    found: dict[int, list[Store]] = {i: [] for i in merchant_ids}
    for store in await Store.filter(merchant_id__in=set(merchant_ids)).order_by("id"):
        found[store.merchant_id].append(store)
    return [found[i] for i in merchant_ids]


async def categories_by_sku(merchant_id: int, skus: Iterable[str]) -> dict[str, str]:
    """The catalogue category of each of these skus of the merchant that it knows."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = await Product.filter(merchant_id=merchant_id, sku__in=wanted).values_list(
        "sku", "category"
    )
    return dict(rows)


async def list_categories() -> list[str]:
    """Each category once (categories compare without regard to case)."""
    rows = await Product.all().distinct().order_by("category").values_list("category", flat=True)
    seen: dict[str | None, str] = {}
    for name in rows:
        seen.setdefault(normalize_category(str(name)), str(name))
    return sorted(seen.values(), key=str.casefold)


# --- products ---------------------------------------------------------------------------


def _validate_products(products: Sequence[ProductData], currency: str) -> list[dict[str, object]]:
    if len(products) > MAX_PRODUCTS_PER_REQUEST:
        raise TooManyItems(
            f"At most {MAX_PRODUCTS_PER_REQUEST} products per request.", field=["products"]
        )
    errors: list[DomainError] = []
    seen: set[str] = set()
    clean: list[dict[str, object]] = []
    for i, product in enumerate(products):
        path = ["products", str(i)]
        row: dict[str, object] = {}
        try:
            sku = clean_text(product.sku, field=[*path, "sku"], max_length=64)
            if sku in seen:
                raise InvalidInput("This sku appears twice in the request.", field=[*path, "sku"])
            seen.add(sku)
            row["sku"] = sku
        except DomainError as error:
            errors.append(error)
        for key, max_length in (("name", 200), ("category", 80)):
            try:
                row[key] = " ".join(
                    clean_text(
                        getattr(product, key), field=[*path, key], max_length=max_length
                    ).split()
                )
            except DomainError as error:
                errors.append(error)
        try:
            row["image_url"] = clean_url(product.image_url, field=[*path, "imageUrl"])
        except DomainError as error:
            errors.append(error)
        try:
            if product.price_currency != currency:
                raise DomainError(
                    "Prices are in the program's currency.", code=ErrorCode.CURRENCY_MISMATCH
                )
            row["price_minor"] = Money.parse(product.price_amount, currency).minor
        except DomainError as error:
            errors.append(error.at(*path, "price"))
        clean.append(row)
    if errors:
        raise DomainErrors(errors)
    return clean


def _placeholders(dialect: str, rows: int, columns: int) -> str:
    if dialect == "postgres":
        groups = (
            "(" + ", ".join(f"${r * columns + c + 1}" for c in range(columns)) + ")"
            for r in range(rows)
        )
    else:
        one = "(" + ", ".join("?" for _ in range(columns)) + ")"
        groups = (one for _ in range(rows))
    return ", ".join(groups)


_UPDATED_ON_CONFLICT = ("name", "category", "price_minor", "currency", "image_url", "updated_at")


async def upsert_products(*, merchant_id: int, products: Sequence[ProductData]) -> list[Product]:
    """Insert or update products by (merchant, sku): one INSERT ... ON CONFLICT statement per
    500 products and one read back, however many products. Returned in input order."""
    program = await get_program()
    clean = _validate_products(products, program.currency_code)
    if not await Merchant.exists(id=merchant_id):
        raise UnknownMerchant(field=["merchantId"])
    if not clean:
        return []
    now = clock.now()
    conn = get_connection("default")
    dialect = conn.capabilities.dialect
    update = ", ".join(f"{c} = excluded.{c}" for c in _UPDATED_ON_CONFLICT)
    async with in_transaction() as tx:
        for start in range(0, len(clean), UPSERT_CHUNK):
            chunk = clean[start : start + UPSERT_CHUNK]
            values: list[object] = []
            for row in chunk:
                values.extend(
                    (
                        merchant_id,
                        row["sku"],
                        row["name"],
                        row["category"],
                        row["price_minor"],
                        program.currency_code,
                        row["image_url"],
                        now,
                        now,
                    )
                )
            # Only names and placeholders are formatted in; values are parameters.
            sql = (
                f"INSERT INTO {Product._meta.db_table} ({', '.join(_UPSERT_COLUMNS)}) "  # noqa: S608
                f"VALUES {_placeholders(dialect, len(chunk), len(_UPSERT_COLUMNS))} "
                f"ON CONFLICT (merchant_id, sku) DO UPDATE SET {update}"
            )
            await tx.execute_query(sql, values)
        skus = [str(row["sku"]) for row in clean]
        by_sku: dict[str, Product] = {}
        for start in range(0, len(skus), UPSERT_CHUNK):
            chunk_skus = skus[start : start + UPSERT_CHUNK]
            query = Product.filter(merchant_id=merchant_id, sku__in=chunk_skus).using_db(tx)
            by_sku.update((p.sku, p) for p in await query)
    return [by_sku[sku] for sku in skus]
