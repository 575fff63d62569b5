from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

async def leave_room_for_follow_ups(apps, schema_editor):
    """On PostgreSQL, pages of pairs keep a fifth free: a follow-up changes no indexed
    column, so its update can then stay on the row's page without touching the indexes."""
    if schema_editor.collect_sql or schema_editor.client.capabilities.dialect != "postgres":
        return
    await schema_editor.client.execute_script(
        "ALTER TABLE suggestion_pairs SET (fillfactor = 80)"
    )


class Migration(migrations.Migration):
    dependencies = [('suggestions', '0001_co_purchases')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='BasketLine',
            options={'table': 'suggestion_basket_lines', 'app': 'suggestions', 'unique_together': (('purchase_id', 'product_id'),), 'indexes': [Index(fields=['customer_id', 'day'])], 'pk_attr': 'id', 'table_description': 'A catalogue product in a counted purchase (recorded, not fully refunded): what the'},
        ),
        ops.AlterModelOptions(
            name='ProductPair',
            options={'table': 'suggestion_pairs', 'app': 'suggestions', 'unique_together': (('product_id', 'related_id'),), 'constraints': [CheckConstraint(check='together >= 0 AND follow_ups >= 0 AND product_id <> related_id', name='suggestion_pairs_counts')], 'indexes': [Index(fields=['product_id', 'together', 'related_id'])], 'pk_attr': 'id', 'table_description': "Two products bought together, stored both ways so that a product's related products"},
        ),
        ops.AddIndex(
            model_name='ProductPair',
            index=Index(fields=['product_id', 'together', 'related_id']),
        ),
        ops.RunPython(leave_room_for_follow_ups, ops.RunPython.noop),
        ops.AlterModelOptions(
            name='ProductStats',
            options={'table': 'suggestion_products', 'app': 'suggestions', 'constraints': [CheckConstraint(check='purchases >= 0', name='suggestion_products_count')], 'indexes': [Index(fields=['category', 'purchases']), Index(fields=['purchases'])], 'pk_attr': 'product_id', 'table_description': 'How many counted purchases hold a product: its support, and its popularity.'},
        ),
    ]
