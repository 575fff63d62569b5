from __future__ import annotations

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from app.catalog.values import Channel


class Merchant(Model):
    """A brand in the program, with the cashback percent every purchase there earns."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=120)
    logo_url = fields.CharField(max_length=500, null=True)
    # A percent (5.5 means 5.5 %), at most 4 decimals.
    cashback_percent = fields.DecimalField(max_digits=9, decimal_places=4)
    created_at = fields.DatetimeField()

    class Meta:
        table = "catalog_merchants"
        constraints = (
            CheckConstraint(
                check="cashback_percent >= 0 AND cashback_percent <= 100",
                name="catalog_merchants_percent_range",
            ),
        )


class Store(Model):
    """Where a merchant sells: a shop's website or app (ONLINE) or a physical store."""

    id = fields.BigIntField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "catalog.Merchant", related_name="stores", on_delete=fields.RESTRICT
    )
    merchant_id: int
    name = fields.CharField(max_length=120)
    channel = fields.CharEnumField(Channel, max_length=16)
    created_at = fields.DatetimeField()

    class Meta:
        table = "catalog_stores"


class Product(Model):
    """A merchant's product, known by its sku."""

    id = fields.BigIntField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "catalog.Merchant", related_name="products", on_delete=fields.RESTRICT
    )
    merchant_id: int
    sku = fields.CharField(max_length=64)
    name = fields.CharField(max_length=200)
    category = fields.CharField(max_length=80, db_index=True)
    price_minor = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    image_url = fields.CharField(max_length=500, null=True)
    # A product the merchant no longer sells stays (purchases name it) but is not suggested.
    active = fields.BooleanField(default=True, db_default=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "catalog_products"
        unique_together = (("merchant", "sku"),)
        constraints = (CheckConstraint(check="price_minor >= 0", name="catalog_products_price"),)
