from tortoise import migrations
from tortoise.migrations import operations as ops
from app.notifications.kinds import NotificationKind
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer_id', fields.BigIntField()),
                ('kind', fields.CharEnumField(description='CASHBACK_RECORDED: CASHBACK_RECORDED\nCREDITS_AVAILABLE: CREDITS_AVAILABLE\nCREDITS_EXPIRING: CREDITS_EXPIRING\nREDEMPTION_CAPTURED: REDEMPTION_CAPTURED\nTIER_REACHED: TIER_REACHED\nCASHBACK_TAKEN_BACK: CASHBACK_TAKEN_BACK\nSEGMENT_OFFER: SEGMENT_OFFER\nBIRTHDAY: BIRTHDAY\nPOST_PURCHASE: POST_PURCHASE\nLAPSED_NUDGE: LAPSED_NUDGE', enum_type=NotificationKind, max_length=32)),
                ('cause', fields.CharField(max_length=128)),
                ('marketing', fields.BooleanField(default=False)),
                ('locale', fields.CharField(max_length=35)),
                ('title', fields.CharField(max_length=200)),
                ('body', fields.CharField(max_length=1000)),
                ('target', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notifications', 'app': 'notifications', 'unique_together': (('customer_id', 'cause'),), 'indexes': [Index(fields=['customer_id', 'id'])], 'pk_attr': 'id', 'table_description': "One message in a customer's inbox, written once per cause, its text rendered in the"},
            bases=['Model'],
        ),
        # The unread count and the unread page read only unread rows (the same on SQLite
        # and PostgreSQL: both have partial indexes).
        ops.RunSQL(
            "CREATE INDEX notifications_unread ON notifications (customer_id, id) "
            "WHERE read_at IS NULL",
            reverse_sql="DROP INDEX notifications_unread",
        ),
        ops.CreateModel(
            name='RuleCursor',
            fields=[
                ('rule', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('position', fields.CharField(null=True, max_length=200)),
                ('updated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification_rule_cursors', 'app': 'notifications', 'pk_attr': 'rule', 'table_description': 'How far a scheduled rule has gone: each run goes on from here, and one worker at'},
            bases=['Model'],
        ),
    ]
