"""Demo merchants, each with an online shop and physical stores, and a product catalogue
across categories, for `seed-demo`."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from tqdm import tqdm

from app.catalog import service
from app.catalog.values import Channel
from app.program.service import get_program

STEP = 20

# name, cashback percent, categories with (product names, price range)
MERCHANTS: list[tuple[str, str, dict[str, tuple[list[str], tuple[int, int]]]]] = [
    (
        "FreshMarket",
        "2",
        {
            "Groceries": (["Olive oil", "Basmati rice", "Coffee beans", "Dark chocolate"], (2, 25)),
            "Produce": (["Avocados", "Blueberries", "Tomatoes", "Bananas"], (1, 9)),
            "Household": (["Dish soap", "Paper towels", "Laundry pods"], (3, 20)),
        },
    ),
    (
        "TechHub",
        "1.5",
        {
            "Electronics": (["Headphones", "Smart speaker", "E-reader", "Webcam"], (30, 300)),
            "Accessories": (["USB-C cable", "Phone case", "Power bank", "Mouse"], (8, 60)),
        },
    ),
    (
        "Page & Quill",
        "4",
        {
            "Books": (["Sci-fi novel", "Cookbook", "Travel guide", "Poetry", "Biography"], (9, 40)),
            "Stationery": (["Notebook", "Fountain pen", "Planner"], (4, 35)),
        },
    ),
    (
        "UrbanWear",
        "3",
        {
            "Apparel": (["T-shirt", "Jeans", "Hoodie", "Rain jacket"], (15, 120)),
            "Shoes": (["Sneakers", "Boots", "Sandals"], (35, 160)),
        },
    ),
    (
        "Home & Hearth",
        "2.5",
        {
            "Home": (["Table lamp", "Throw blanket", "Scented candle", "Cushion"], (10, 90)),
            "Kitchen": (["Chef's knife", "Cast-iron pan", "Kettle"], (20, 140)),
        },
    ),
    (
        "PetPals",
        "5",
        {
            "Pets": (["Dog food", "Cat litter", "Chew toy", "Pet bed"], (5, 70)),
        },
    ),
]
CITIES = ["Downtown", "Riverside", "Airport", "Old Town"]
WORK = len(MERCHANTS)


async def seed(rng: random.Random, state: dict[str, Any], progress: tqdm[Any]) -> dict[str, int]:
    currency = (await get_program()).currency_code
    merchants, stores, products = [], [], []
    for name, percent, categories in MERCHANTS:
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
        catalogue: list[service.ProductData] = []
        for category, (names, (low, high)) in categories.items():
            for product_name in names:
                for variant in ("", " (large)"):
                    price = Decimal(rng.randint(low * 100, high * 100)) / 100
                    if variant:
                        price = (price * Decimal("1.6")).quantize(Decimal("0.01"))
                    sku = f"{name[:3].upper()}-{len(catalogue) + 1:04}"
                    catalogue.append(
                        service.ProductData(
                            sku=sku,
                            name=product_name + variant,
                            category=category,
                            price_amount=price,
                            price_currency=currency,
                            image_url=f"https://cdn.example.com/products/{sku.lower()}.jpg",
                        )
                    )
        products += await service.upsert_products(merchant_id=merchant.id, products=catalogue)
        progress.update(1)
    state["merchants"] = merchants
    state["stores"] = stores
    state["products"] = products
    return {"merchants": len(merchants), "stores": len(stores), "products": len(products)}
