from tortoise import migrations
from tortoise.migrations import operations as ops
from app.accounts.models import Role
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('password_hash', fields.CharField(max_length=255)),
                ('role', fields.CharEnumField(default=Role.CUSTOMER, description='CUSTOMER: CUSTOMER\nADMIN: ADMIN', enum_type=Role, max_length=16)),
                ('display_name', fields.CharField(max_length=100)),
                ('birth_date', fields.DateField(null=True)),
                ('locale', fields.CharField(null=True, max_length=35)),
                ('member_code', fields.CharField(unique=True, max_length=16)),
                ('terms_version', fields.IntField(null=True)),
                ('referral_code_used', fields.CharField(null=True, max_length=32)),
                ('consent_personalization', fields.BooleanField(default=False)),
                ('consent_marketing', fields.BooleanField(default=False)),
                ('consents_updated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('deleted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'accounts', 'pk_attr': 'id', 'table_description': 'A person who signs in: a customer of the program or one of its operators.'},
            bases=['Model'],
        ),
    ]
