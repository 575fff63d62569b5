"""Catalogue use cases: merchants, stores and products. No GraphQL here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.transactions import in_transaction

from app import db
from app.catalog import memory
from app.catalog.errors import StoreNotAllowed, UnknownMerchant, UnknownProduct, UnknownStore
from app.catalog.memory import MerchantRecord, StoreRecord
from app.catalog.models import Merchant, Product, Store
from app.catalog.values import Channel
from app.core import clock
from app.core.decimals import plain_decimal
from app.core.errors import InputErrors, InvalidInput, NotFound, TooManyItems
from app.core.ids import decode_id
from app.core.money import parse_money
from app.core.pagination import (
    Page,
    decode_cursor,
    encode_cursor,
    key_check,
    keyset_page,
    page_size,
)
from app.core.reads import read_each_once
from app.program.service import get_program

MAX_PRODUCTS_PER_REQUEST = 1_000
MAX_PERCENT = Decimal(100)
PERCENT_PLACES = 4
# Rows per INSERT statement when upserting products (well under every driver's
# parameter limit: 10 parameters a row).
UPSERT_CHUNK = 500
# (merchant, sku) pairs looked up per query (each pair is at most two parameters).
KEYS_PER_QUERY = 5_000


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
    # None keeps what is stored (a new product is active).
    active: bool | None = None


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
    return plain_decimal(percent)


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


def merchant_pk(merchant_id: str, *, field: Sequence[str]) -> int:
    """The primary key behind a merchant's opaque id; UnknownMerchant at `field` for
    any other id."""
    try:
        return decode_id(merchant_id, "Merchant")
    except NotFound:
        raise UnknownMerchant(field=field) from None


def store_pk(store_id: str, *, field: Sequence[str]) -> int:
    """The primary key behind a store's opaque id; UnknownStore at `field` for any
    other id."""
    try:
        return decode_id(store_id, "Store")
    except NotFound:
        raise UnknownStore(field=field) from None


async def create_merchant(
    *, name: str, logo_url: str | None, cashback_percent: Decimal
) -> Merchant:
    problems = InputErrors()
    clean: dict[str, Any] = {}  # the checked value of each column
    with problems.catch():
        clean["name"] = clean_text(name, field=["input", "name"], max_length=120)
    with problems.catch():
        clean["logo_url"] = clean_url(logo_url, field=["input", "logoUrl"])
    with problems.catch():
        clean["cashback_percent"] = parse_percent(
            cashback_percent, field=["input", "cashbackPercent"]
        )
    problems.raise_any()
    async with memory.creating_merchant():
        return await Merchant.create(**clean, created_at=clock.now())


async def create_store(*, merchant_id: int, name: str, channel: Channel) -> Store:
    clean_name = clean_text(name, field=["input", "name"], max_length=120)
    if not await Merchant.exists(id=merchant_id):
        raise UnknownMerchant(field=["input", "merchantId"])
    async with memory.creating_store():
        return await Store.create(
            merchant_id=merchant_id, name=clean_name, channel=channel, created_at=clock.now()
        )


async def get_merchant(merchant_id: int) -> MerchantRecord | None:
    [merchant] = await merchants_by_ids([merchant_id])
    return merchant


async def get_store(store_id: int) -> StoreRecord | None:
    [store] = await stores_by_ids([store_id])
    return store


async def get_product(product_id: int) -> Product | None:
    return await Product.get_or_none(id=product_id)


def product_pk(product_id: str, *, field: Sequence[str]) -> int:
    """The primary key behind a product's opaque id; UnknownProduct at `field` for any
    other id."""
    try:
        return decode_id(product_id, "Product")
    except NotFound:
        raise UnknownProduct(field=field) from None


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
# Every column of a product row (the upsert's, the id and whether it is sold).
_PRODUCT_COLUMNS = ("id", *_UPSERT_COLUMNS, "active")


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
    where = [f"merchant_id IN ({db.marks(len(wanted))})"]
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
    conn = db.connection()
    if db.dialect() == "postgres":
        sql = db.numbered(sql)
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
    """Stores by id, each with its merchant's name and percent (from memory, else one
    query)."""
    ids = sorted(set(store_ids))
    if not ids:
        return {}
    stores, merchants = await memory.kept_stores(), await memory.kept_merchants()
    if stores is not None and merchants is not None:
        found = {i: stores.by_id[i] for i in ids if i in stores.by_id}
        if len(found) == len(ids) and all(s.merchant_id in merchants for s in found.values()):
            return {i: _info(s, merchants[s.merchant_id]) for i, s in found.items()}
    rows = await Store.filter(id__in=ids).values(*_STORE_INFO_FIELDS)
    return {row["id"]: _store_info(row) for row in rows}


_STORE_INFO_FIELDS = (
    "id",
    "name",
    "channel",
    "merchant_id",
    "merchant__name",
    "merchant__cashback_percent",
)


def _store_info(row: dict[str, Any]) -> StoreInfo:
    return StoreInfo(
        id=row["id"],
        name=row["name"],
        channel=Channel(row["channel"]),
        merchant_id=row["merchant_id"],
        merchant_name=row["merchant__name"],
        merchant_percent=Decimal(row["merchant__cashback_percent"]),
    )


def _info(store: StoreRecord, merchant: MerchantRecord) -> StoreInfo:
    return StoreInfo(
        id=store.id,
        name=store.name,
        channel=store.channel,
        merchant_id=store.merchant_id,
        merchant_name=merchant.name,
        merchant_percent=merchant.cashback_percent,
    )


def check_store_scope(
    store: StoreInfo, merchant_scope: int | None, *, field: Sequence[str]
) -> StoreInfo:
    """The store, if a partner bound to the merchant `merchant_scope` (None: to no
    merchant) may act on it; StoreNotAllowed at `field` if it is another merchant's."""
    if merchant_scope is not None and store.merchant_id != merchant_scope:
        raise StoreNotAllowed(field=field)
    return store


async def store_in_scope(
    store_id: str, merchant_scope: int | None, *, field: Sequence[str] = ("input", "storeId")
) -> StoreInfo:
    """The store with this opaque id, for a partner bound to `merchant_scope` (see
    `check_store_scope`); UnknownStore or StoreNotAllowed at `field`."""
    pk = store_pk(store_id, field=field)
    store = (await store_infos([pk])).get(pk)
    if store is None:
        raise UnknownStore(field=field)
    return check_store_scope(store, merchant_scope, field=field)


async def merchants_by_ids(ids: Sequence[int]) -> list[MerchantRecord | None]:
    """Merchants by id, None for an unknown one (a DataLoader's batch function): from
    memory; one that memory does not know is read (once for all the fields of a query)."""
    kept: Mapping[int, MerchantRecord] = await memory.kept_merchants() or {}
    missing = [i for i in ids if i not in kept]
    read = await read_each_once("catalog.merchants", missing, _read_merchants) if missing else {}
    return [kept.get(i) or read.get(i) for i in ids]


async def _read_merchants(ids: list[int]) -> dict[int, MerchantRecord]:
    return {m.id: memory.merchant_record(m) for m in await Merchant.filter(id__in=ids)}


async def stores_by_ids(ids: Sequence[int]) -> list[StoreRecord | None]:
    """Stores by id, None for an unknown one (a DataLoader's batch function): from memory;
    those memory does not know are read."""
    kept = await memory.kept_stores()
    known: Mapping[int, StoreRecord] = kept.by_id if kept is not None else {}
    missing = {i for i in ids if i not in known}
    read = (
        {s.id: memory.store_record(s) for s in await Store.filter(id__in=missing)}
        if missing
        else {}
    )
    return [known.get(i) or read.get(i) for i in ids]


async def stores_of_merchants(merchant_ids: Sequence[int]) -> list[list[StoreRecord]]:
    """Each merchant's stores, by id (a DataLoader's batch function)."""
    kept = await memory.kept_stores()
    if kept is not None:
        return [list(kept.of_merchant.get(i, ())) for i in merchant_ids]
    found: dict[int, list[StoreRecord]] = {i: [] for i in merchant_ids}
    for store in await Store.filter(merchant_id__in=set(merchant_ids)).order_by("id"):
        found[store.merchant_id].append(memory.store_record(store))
    return [found[i] for i in merchant_ids]


async def product_keys(merchant_id: int, skus: Iterable[str]) -> dict[str, tuple[int, str]]:
    """The id and category of each of these skus of the merchant that the catalogue knows
    (one query)."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = await Product.filter(merchant_id=merchant_id, sku__in=wanted).values_list(
        "sku", "id", "category"
    )
    return {sku: (pk, category) for sku, pk, category in rows}


async def product_keys_of(
    merchant_skus: Iterable[tuple[int, str]],
) -> dict[tuple[int, str], tuple[int, str]]:
    """`product_keys` for (merchant, sku) pairs of many merchants at once: one query for
    up to `KEYS_PER_QUERY` pairs."""
    wanted = sorted(set(merchant_skus))
    found: dict[tuple[int, str], tuple[int, str]] = {}
    for start in range(0, len(wanted), KEYS_PER_QUERY):
        chunk = set(wanted[start : start + KEYS_PER_QUERY])
        rows = await Product.filter(
            merchant_id__in={m for m, _ in chunk}, sku__in={s for _, s in chunk}
        ).values_list("merchant_id", "sku", "id", "category")
        found.update(
            ((merchant_id, sku), (pk, category))
            for merchant_id, sku, pk, category in rows
            if (merchant_id, sku) in chunk
        )
    return found


@dataclass(frozen=True, slots=True)
class ProductJoin:
    """The catalogue's products joined into another feature's statement, so that what it
    lists comes with its products in one round trip: `join` (to add after its FROM),
    `columns` (to select, each aliased with `alias_`), and `product_of(row)`."""

    join: str
    columns: str
    names: tuple[str, ...]
    prefix: str

    def product_of(self, row: Mapping[str, Any]) -> Product:
        return Product._init_from_db(**{c: row[f"{self.prefix}{c}"] for c in self.names})


def product_join(*, alias: str, product_id: str) -> ProductJoin:
    """Each row's product, `product_id` naming the column that holds its id."""
    # Known once the ORM is set up (the merchant's id column included).
    names = tuple(Product._meta.fields_db_projection.values())
    return ProductJoin(
        join=f"JOIN {Product._meta.db_table} {alias} ON {alias}.id = {product_id}",
        columns=", ".join(f"{alias}.{c} AS {alias}_{c}" for c in names),
        names=names,
        prefix=f"{alias}_",
    )


async def products_by_ids(ids: Iterable[int]) -> dict[int, Product]:
    """The products with these ids, sold or not (one query)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {p.id: p for p in await Product.filter(id__in=wanted)}


async def estimate_stores(merchant_ids: Iterable[int]) -> dict[int, StoreInfo]:
    """The store an estimate for each merchant's product is made at: its online shop, or
    its first physical store when it sells only in store (from memory, else one query)."""
    wanted = sorted(set(merchant_ids))
    if not wanted:
        return {}
    stores, merchants = await memory.kept_stores(), await memory.kept_merchants()
    if stores is not None and merchants is not None and all(m in merchants for m in wanted):
        found: dict[int, StoreInfo] = {}
        for merchant_id in wanted:
            # Stores are kept by id: the first online one, else the first.
            of_merchant = stores.of_merchant.get(merchant_id, ())
            online = [s for s in of_merchant if s.channel is Channel.ONLINE]
            for store in online[:1] or of_merchant[:1]:
                found[merchant_id] = _info(store, merchants[merchant_id])
        return found
    rows = await Store.filter(merchant_id__in=wanted).values(*_STORE_INFO_FIELDS)
    chosen: dict[int, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r["channel"] != Channel.ONLINE.value, r["id"])):
        chosen.setdefault(row["merchant_id"], row)
    return {merchant_id: _store_info(row) for merchant_id, row in chosen.items()}


async def has_category(name: str) -> bool:
    """Whether some product of the catalogue is in this category (compared as categories
    are: without regard to case)."""
    return await Product.filter(category__iexact=" ".join(name.split())).exists()


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
    problems = InputErrors()
    seen: set[str] = set()
    clean: list[dict[str, object]] = []
    for i, product in enumerate(products):
        path = ["products", str(i)]
        row: dict[str, object] = {}
        with problems.catch():
            sku = clean_text(product.sku, field=[*path, "sku"], max_length=64)
            if sku in seen:
                raise InvalidInput("This sku appears twice in the request.", field=[*path, "sku"])
            seen.add(sku)
            row["sku"] = sku
        for key, max_length in (("name", 200), ("category", 80)):
            with problems.catch():
                row[key] = " ".join(
                    clean_text(
                        getattr(product, key), field=[*path, key], max_length=max_length
                    ).split()
                )
        with problems.catch():
            row["image_url"] = clean_url(product.image_url, field=[*path, "imageUrl"])
        with problems.catch():
            row["price_minor"] = parse_money(
                product.price_amount,
                product.price_currency,
                program_currency=currency,
                field=[*path, "price"],
            ).minor
        row["active"] = product.active
        clean.append(row)
    problems.raise_any()
    return clean


_UPDATED_ON_CONFLICT = ("name", "category", "price_minor", "currency", "image_url", "updated_at")


async def _upsert_chunk(
    merchant_id: int, chunk: Sequence[dict[str, object]], currency: str, now: datetime
) -> None:
    """One INSERT ... ON CONFLICT for these rows (all of them setting `active`, or none)."""
    sets_active = chunk[0]["active"] is not None
    columns = (*_UPSERT_COLUMNS, "active") if sets_active else _UPSERT_COLUMNS
    updated = (*_UPDATED_ON_CONFLICT, "active") if sets_active else _UPDATED_ON_CONFLICT
    values: list[object] = []
    for row in chunk:
        values.extend(
            (
                merchant_id,
                row["sku"],
                row["name"],
                row["category"],
                row["price_minor"],
                currency,
                row["image_url"],
                now,
                now,
            )
        )
        if sets_active:
            values.append(row["active"])
    # Only names and placeholders are formatted in; values are parameters.
    sql = (
        f"INSERT INTO {Product._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES {', '.join([f'({db.marks(len(columns))})'] * len(chunk))} "
        f"ON CONFLICT (merchant_id, sku) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in updated)
    )
    await db.execute(sql, *values)


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
    async with in_transaction() as tx:
        # Rows that say whether they are sold set `active`; the others keep theirs.
        for sets_active in (False, True):
            rows = [row for row in clean if (row["active"] is not None) == sets_active]
            for start in range(0, len(rows), UPSERT_CHUNK):
                await _upsert_chunk(
                    merchant_id, rows[start : start + UPSERT_CHUNK], program.currency_code, now
                )
        skus = [str(row["sku"]) for row in clean]
        by_sku: dict[str, Product] = {}
        for start in range(0, len(skus), UPSERT_CHUNK):
            chunk_skus = skus[start : start + UPSERT_CHUNK]
            query = Product.filter(merchant_id=merchant_id, sku__in=chunk_skus).using_db(tx)
            by_sku.update((p.sku, p) for p in await query)
    return [by_sku[sku] for sku in skus]
