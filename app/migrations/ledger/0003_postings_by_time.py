from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

_BACKFILL = {
    "postgres": "UPDATE ledger_postings p SET created_at = t.created_at"
    " FROM ledger_transfers t WHERE t.id = p.transfer_id AND p.created_at IS NULL",
    "sqlite": "UPDATE ledger_postings SET created_at = (SELECT t.created_at"
    " FROM ledger_transfers t WHERE t.id = ledger_postings.transfer_id)"
    " WHERE created_at IS NULL",
}


async def copy_transfer_times(apps, schema_editor):
    """Existing postings take their transfer's time (before the index is built)."""
    if schema_editor.collect_sql:
        return
    dialect = schema_editor.client.capabilities.dialect
    await schema_editor.client.execute_script(_BACKFILL[dialect])


class Migration(migrations.Migration):
    dependencies = [('ledger', '0002_metrics_period_index')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Posting',
            name='created_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunPython(copy_transfer_times, ops.RunPython.noop),
        ops.AddIndex(
            model_name='Posting',
            index=Index(fields=['account', 'currency', 'created_at', 'amount'], name='ledger_postings_period'),
        ),
    ]
