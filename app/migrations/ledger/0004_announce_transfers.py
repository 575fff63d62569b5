from tortoise import migrations
from tortoise.migrations import operations as ops

# Each statement that inserts transfers announces, once per customer and kind, on the
# channel `ledger_transfers` (app.ledger.postings.TRANSFERS_CHANNEL), for the customers
# some process watches (ledger_live_watchers: customer, the listening backend's pid).
# NOTIFY is delivered at commit, so what is rolled back is never announced; but a
# notifying transaction holds PostgreSQL's global notify lock through its commit, so
# commits that notify are serialized: only movements someone is watching pay for it.
# A statement-level trigger with a transition table: a bulk statement pays once.
_CREATE = """
CREATE UNLOGGED TABLE ledger_live_watchers (
    customer_id BIGINT NOT NULL,
    listener_pid INT NOT NULL,
    PRIMARY KEY (customer_id, listener_pid)
);
CREATE FUNCTION ledger_announce_transfers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ledger_transfers', moved.customer_id::text || ':' || moved.kind)
    FROM (
        SELECT DISTINCT n.customer_id, n.kind FROM new_transfers n
        WHERE EXISTS (SELECT 1 FROM ledger_live_watchers w WHERE w.customer_id = n.customer_id)
    ) AS moved;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_transfers_announce AFTER INSERT ON ledger_transfers
    REFERENCING NEW TABLE AS new_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_announce_transfers();
"""

_DROP = """
DROP TRIGGER IF EXISTS ledger_transfers_announce ON ledger_transfers;
DROP FUNCTION IF EXISTS ledger_announce_transfers();
DROP TABLE IF EXISTS ledger_live_watchers;
"""


async def create_trigger(apps, schema_editor):
    """PostgreSQL only: on SQLite the ledger announces transfers in process."""
    if schema_editor.collect_sql or schema_editor.client.capabilities.dialect != "postgres":
        return
    await schema_editor.client.execute_script(_CREATE)


async def drop_trigger(apps, schema_editor):
    if schema_editor.collect_sql or schema_editor.client.capabilities.dialect != "postgres":
        return
    await schema_editor.client.execute_script(_DROP)


class Migration(migrations.Migration):
    dependencies = [('ledger', '0003_postings_by_time')]

    initial = False

    operations = [
        ops.RunPython(create_trigger, drop_trigger),
    ]
