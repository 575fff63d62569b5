"""Accounts use cases. No GraphQL here: keyword-only arguments, domain errors."""

from __future__ import annotations

import secrets

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.accounts.models import Role, User
from app.accounts.passwords import hash_password
from app.core import clock
from app.core.errors import InvalidInput

# No 0/O, 1/I/L: a cashier types these from a phone screen.
MEMBER_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MEMBER_CODE_LENGTH = 8


def normalize_email(email: str) -> str:
    return email.strip().lower()


def new_member_code() -> str:
    return "".join(secrets.choice(MEMBER_CODE_ALPHABET) for _ in range(MEMBER_CODE_LENGTH))


async def get_active_user(user_id: int) -> User | None:
    return await User.get_or_none(id=user_id, deleted_at=None)


async def find_customer(
    *, member_code: str | None = None, email: str | None = None, customer_id: int | None = None
) -> User | None:
    """The active customer named by exactly one of member code, email or id."""
    query = User.filter(deleted_at=None, role=Role.CUSTOMER)
    if member_code is not None:
        return await query.get_or_none(member_code=member_code.strip().upper())
    if email is not None:
        return await query.get_or_none(email=normalize_email(email))
    if customer_id is not None:
        return await query.get_or_none(id=customer_id)
    return None


async def create_user(
    *,
    email: str,
    password: str,
    display_name: str,
    role: Role = Role.CUSTOMER,
    **profile: object,
) -> User:
    """A new user with a fresh member code (drawn again on the rare collision)."""
    password_hash = await hash_password(password)
    now = clock.now()
    for _ in range(5):
        try:
            async with in_transaction():
                return await User.create(
                    email=normalize_email(email),
                    password_hash=password_hash,
                    display_name=display_name,
                    role=role,
                    member_code=new_member_code(),
                    created_at=now,
                    updated_at=now,
                    **profile,
                )
        except IntegrityError:
            if await User.exists(email=normalize_email(email)):
                raise
    raise InvalidInput("Could not allocate a member code.")


async def create_admin(*, email: str, password: str) -> tuple[User, bool]:
    """The admin with this email, made if missing; an existing user becomes admin.
    Returns the user and whether it was created."""
    if len(password) < 10:
        raise InvalidInput("The password must have at least 10 characters.", field=["password"])
    existing = await User.get_or_none(email=normalize_email(email))
    if existing is not None:
        existing.role = Role.ADMIN
        existing.password_hash = await hash_password(password)
        existing.updated_at = clock.now()
        await existing.save(update_fields=["role", "password_hash", "updated_at"])
        return existing, False
    user = await create_user(
        email=email, password=password, display_name="Administrator", role=Role.ADMIN
    )
    return user, True
