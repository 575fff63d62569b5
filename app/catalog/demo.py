"""Demo merchants, each with an online shop and physical stores, a product catalogue across
categories, and what their customers buy together (bundles), for `seed-demo`."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tqdm import tqdm

from app.catalog import service
from app.catalog.values import Channel
from app.program.service import get_program

STEP = 20


@dataclass(frozen=True, slots=True)
class Shelf:
    """Products of one category in a price range; each also in a large size (at 1.6 times
    its price) unless `one_size`."""

    category: str
    names: tuple[str, ...]
    prices: tuple[int, int]
    one_size: bool = False


# name, cashback percent, shelves, bundles: a product and the companions bought with it
# (state["bundles"], for the demo's purchases). A bundle names the product's regular size.
MERCHANTS: list[tuple[str, str, list[Shelf], list[tuple[str, tuple[str, ...]]]]] = [
    (
        "FreshMarket",
        "2",
        [
            Shelf(
                "Groceries",
                ("Olive oil", "Basmati rice", "Coffee beans", "Dark chocolate"),
                (2, 25),
            ),
            Shelf("Produce", ("Avocados", "Blueberries", "Tomatoes", "Bananas"), (1, 9)),
            Shelf("Household", ("Dish soap", "Paper towels", "Laundry pods"), (3, 20)),
            Shelf(
                "Groceries",
                ("Coffee filters", "Oat milk", "Spaghetti", "Tomato sauce", "Parmesan"),
                (2, 12),
                one_size=True,
            ),
            Shelf("Produce", ("Fresh basil",), (1, 4), one_size=True),
            Shelf("Household", ("Milk frother",), (15, 40), one_size=True),
        ],
        [
            ("Coffee beans", ("Coffee filters", "Oat milk", "Milk frother")),
            ("Spaghetti", ("Tomato sauce", "Parmesan", "Fresh basil", "Olive oil")),
            ("Avocados", ("Tomatoes", "Fresh basil", "Olive oil")),
        ],
    ),
    (
        "TechHub",
        "1.5",
        [
            Shelf("Electronics", ("Headphones", "Smart speaker", "E-reader", "Webcam"), (30, 300)),
            Shelf("Accessories", ("USB-C cable", "Phone case", "Power bank", "Mouse"), (8, 60)),
            Shelf("Phones", ("Phone X", "Phone X Pro"), (450, 1100), one_size=True),
            Shelf(
                "Accessories",
                (
                    "Phone X case",
                    "Phone X Pro case",
                    "USB-C charger",
                    "Screen protector",
                    "Headphone stand",
                    "Mouse pad",
                ),
                (8, 45),
                one_size=True,
            ),
        ],
        [
            ("Phone X", ("Phone X case", "USB-C charger", "Screen protector")),
            ("Phone X Pro", ("Phone X Pro case", "USB-C charger", "Screen protector")),
            ("Headphones", ("Headphone stand", "USB-C cable")),
            ("Mouse", ("Mouse pad", "USB-C cable", "Webcam")),
        ],
    ),
    (
        "Page & Quill",
        "4",
        [
            Shelf(
                "Books",
                ("Sci-fi novel", "Cookbook", "Travel guide", "Poetry", "Biography"),
                (9, 40),
            ),
            Shelf("Stationery", ("Notebook", "Fountain pen", "Planner"), (4, 35)),
            Shelf(
                "Stationery",
                ("Ink cartridges", "Bookmark", "Travel journal"),
                (3, 18),
                one_size=True,
            ),
        ],
        [
            ("Notebook", ("Fountain pen", "Ink cartridges", "Planner")),
            ("Travel guide", ("Travel journal", "Bookmark")),
            ("Sci-fi novel", ("Bookmark",)),
        ],
    ),
    (
        "UrbanWear",
        "3",
        [
            Shelf("Apparel", ("T-shirt", "Jeans", "Hoodie", "Rain jacket"), (15, 120)),
            Shelf("Shoes", ("Sneakers", "Boots", "Sandals"), (35, 160)),
            Shelf("Apparel", ("Socks", "Belt"), (6, 40), one_size=True),
            Shelf("Shoes", ("Shoe cleaner", "Insoles"), (6, 25), one_size=True),
        ],
        [
            ("Sneakers", ("Socks", "Shoe cleaner", "T-shirt")),
            ("Jeans", ("Belt", "T-shirt", "Hoodie")),
            ("Boots", ("Insoles", "Socks", "Rain jacket")),
        ],
    ),
    (
        "Home & Hearth",
        "2.5",
        [
            Shelf("Home", ("Table lamp", "Throw blanket", "Scented candle", "Cushion"), (10, 90)),
            Shelf("Kitchen", ("Chef's knife", "Cast-iron pan", "Kettle"), (20, 140)),
            Shelf(
                "Kitchen",
                ("Pan scraper", "Knife sharpener", "Cutting board", "Oven mitts"),
                (4, 30),
                one_size=True,
            ),
        ],
        [
            ("Cast-iron pan", ("Pan scraper", "Oven mitts")),
            ("Chef's knife", ("Knife sharpener", "Cutting board")),
            ("Throw blanket", ("Cushion", "Scented candle", "Table lamp")),
        ],
    ),
    (
        "PetPals",
        "5",
        [
            Shelf("Pets", ("Dog food", "Cat litter", "Chew toy", "Pet bed"), (5, 70)),
            Shelf(
                "Pets",
                ("Dog treats", "Dog leash", "Cat food", "Litter scoop"),
                (4, 30),
                one_size=True,
            ),
        ],
        [
            ("Dog food", ("Chew toy", "Dog treats", "Dog leash")),
            ("Cat litter", ("Litter scoop", "Cat food")),
        ],
    ),
]
CITIES = ["Downtown", "Riverside", "Airport", "Old Town"]
WORK = len(MERCHANTS)


def _catalogue(
    name: str, shelves: list[Shelf], rng: random.Random, currency: str
) -> list[service.ProductData]:
    catalogue: list[service.ProductData] = []
    for shelf in shelves:
        low, high = shelf.prices
        for product_name in shelf.names:
            for variant in ("",) if shelf.one_size else ("", " (large)"):
                price = Decimal(rng.randint(low * 100, high * 100)) / 100
                if variant:
                    price = (price * Decimal("1.6")).quantize(Decimal("0.01"))
                sku = f"{name[:3].upper()}-{len(catalogue) + 1:04}"
                catalogue.append(
                    service.ProductData(
                        sku=sku,
                        name=product_name + variant,
                        category=shelf.category,
                        price_amount=price,
                        price_currency=currency,
                        image_url=f"https://cdn.example.com/products/{sku.lower()}.jpg",
                    )
                )
    return catalogue


async def seed(rng: random.Random, state: dict[str, Any], progress: tqdm[Any]) -> dict[str, int]:
    currency = (await get_program()).currency_code
    merchants, stores, products = [], [], []
    # merchant id -> [(product, its companions)]
    bundles: dict[int, list[tuple[Any, list[Any]]]] = {}
    for name, percent, shelves, together in MERCHANTS:
        merchant = await service.create_merchant(
            name=name,
            logo_url=f"https://cdn.example.com/logos/{name.lower().replace(' ', '-')}.png",
            cashback_percent=Decimal(percent),
        )
        merchants.append(merchant)
        stores.append(
            await service.create_store(
                merchant_id=merchant.id, name=f"{name} online", channel=Channel.ONLINE
            )
        )
        for city in rng.sample(CITIES, rng.randint(1, 2)):
            stores.append(
                await service.create_store(
                    merchant_id=merchant.id, name=f"{name} {city}", channel=Channel.IN_STORE
                )
            )
        made = await service.upsert_products(
            merchant_id=merchant.id, products=_catalogue(name, shelves, rng, currency)
        )
        named = {product.name: product for product in made}
        bundles[merchant.id] = [
            (named[anchor], [named[c] for c in companions]) for anchor, companions in together
        ]
        products += made
        progress.update(1)
    state["merchants"] = merchants
    state["stores"] = stores
    state["products"] = products
    state["bundles"] = bundles
    return {"merchants": len(merchants), "stores": len(stores), "products": len(products)}
