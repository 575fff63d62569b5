from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model


class BasketLine(Model):
    """A catalogue product in a counted purchase (recorded, not fully refunded): what the
    statistics are made of, and a customer's recent purchases as suggestions read them."""

    id = fields.BigIntField(primary_key=True)
    # Ids of other features' rows (purchases, customers, products): no foreign keys across.
    purchase_id = fields.BigIntField()
    customer_id = fields.BigIntField()
    product_id = fields.BigIntField()
    # Days since 1970-01-01 (UTC) of the purchase: the follow-up window compares these.
    day = fields.IntField()

    class Meta:
        table = "suggestion_basket_lines"
        indexes = (Index(fields=("customer_id", "day")),)
        unique_together = (("purchase_id", "product_id"),)


class ProductStats(Model):
    """How many counted purchases hold a product: its support, and its popularity."""

    product_id = fields.BigIntField(primary_key=True, generated=False)
    # The normalised category key (see catalog.service.normalize_category).
    category = fields.CharField(max_length=80)
    purchases = fields.IntField(default=0)

    class Meta:
        table = "suggestion_products"
        indexes = (Index(fields=("category", "purchases")), Index(fields=("purchases",)))
        constraints = (CheckConstraint(check="purchases >= 0", name="suggestion_products_count"),)


class ProductPair(Model):
    """Two products bought together, stored both ways so that a product's related products
    are one index range: `together` counts purchases holding both; `follow_ups` counts pairs
    of one customer's purchases at most 30 days apart, one holding each."""

    id = fields.BigIntField(primary_key=True)
    product_id = fields.BigIntField()
    related_id = fields.BigIntField()
    together = fields.IntField(default=0)
    follow_ups = fields.IntField(default=0)

    class Meta:
        table = "suggestion_pairs"
        unique_together = (("product_id", "related_id"),)
        # A product's pairs most bought together first: related products read the top few.
        indexes = (Index(fields=("product_id", "together", "related_id")),)
        constraints = (
            CheckConstraint(
                check="together >= 0 AND follow_ups >= 0 AND product_id <> related_id",
                name="suggestion_pairs_counts",
            ),
        )
