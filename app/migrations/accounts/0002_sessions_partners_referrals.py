from tortoise import migrations
from tortoise.migrations import operations as ops
from app.accounts.models import SessionEnd
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# No 0/O, 1/I/L, as for member codes.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


async def give_existing_users_referral_codes(apps, schema_editor):
    import secrets

    if schema_editor.collect_sql:
        return
    client = schema_editor.client
    mark = "$1" if client.capabilities.dialect == "postgres" else "?"
    second = "$2" if client.capabilities.dialect == "postgres" else "?"
    _, rows = await client.execute_query("SELECT id FROM users WHERE referral_code IS NULL")
    taken = set()
    for row in rows:
        code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        while code in taken:
            code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        taken.add(code)
        await client.execute_query(
            f"UPDATE users SET referral_code = {mark} WHERE id = {second}", [code, row["id"]]
        )

class Migration(migrations.Migration):
    dependencies = [('accounts', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConsentChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('accounts.User', source_field='user_id', db_constraint=True, to_field='id', related_name='consent_changes', on_delete=OnDelete.CASCADE)),
                ('personalization', fields.BooleanField()),
                ('marketing', fields.BooleanField()),
                ('source', fields.CharField(max_length=16)),
                ('changed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'consent_changes', 'app': 'accounts', 'pk_attr': 'id', 'table_description': "Every change of a customer's consents, with when and how it was given."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerClient',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('client_id', fields.CharField(unique=True, max_length=40)),
                ('secret_hash', fields.CharField(max_length=64)),
                ('scopes', fields.CharField(max_length=255)),
                ('merchant_id', fields.BigIntField(null=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('secret_rotated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('disabled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_token_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_clients', 'app': 'accounts', 'pk_attr': 'id', 'table_description': "A partner system's OAuth client (client-credentials grant)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Session',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('accounts.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('end_reason', fields.CharEnumField(null=True, description='SIGNED_OUT: SIGNED_OUT\nSIGNED_OUT_EVERYWHERE: SIGNED_OUT_EVERYWHERE\nSIGNED_OUT_REMOTELY: SIGNED_OUT_REMOTELY\nREFRESH_TOKEN_REUSED: REFRESH_TOKEN_REUSED\nPASSWORD_CHANGED: PASSWORD_CHANGED\nACCOUNT_DELETED: ACCOUNT_DELETED', enum_type=SessionEnd, max_length=32)),
                ('user_agent', fields.CharField(null=True, max_length=255)),
                ('ip_address', fields.CharField(null=True, max_length=45)),
            ],
            options={'table': 'auth_sessions', 'app': 'accounts', 'indexes': [Index(fields=['user_id', 'ended_at'])], 'pk_attr': 'id', 'table_description': 'One sign-in on one device: a family of refresh tokens, each replacing the last.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('accounts.Session', source_field='session_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'auth_refresh_tokens', 'app': 'accounts', 'pk_attr': 'id', 'table_description': 'A refresh token, stored as the SHA-256 of its random value. `used_at` is set when'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='User',
            name='password_changed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='User',
            name='referral_code',
            field=fields.CharField(null=True, unique=True, max_length=16),
        ),
        ops.AddField(
            model_name='User',
            name='referred_by',
            field=fields.ForeignKeyField('accounts.User', source_field='referred_by_id', null=True, db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.SET_NULL),
        ),
        ops.RunPython(give_existing_users_referral_codes, ops.RunPython.noop),
    ]
