from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ThrottleCounter',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('hits', fields.TextField(unique=False)),
                ('version', fields.IntField(default=0)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'throttle_counters', 'app': 'throttling', 'pk_attr': 'key', 'table_description': 'The recent hits of one throttling key: a sliding log of at most `limit` moments.'},
            bases=['Model'],
        ),
    ]
