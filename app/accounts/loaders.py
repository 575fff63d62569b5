"""Batch functions for per-request DataLoaders (`info.context.loader(fn).load(key)`)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from app import db
from app.accounts.models import PartnerClient, Session, User
from app.accounts.service import BIRTH_DATE, invited_counts
from app.accounts.tokens import Principal
from app.core import clock
from app.core.reads import Rider, remember, riders_for, sharing
from app.program.service import program_in_memory


async def principals_alive(principals: list[Principal]) -> list[bool]:
    """Whether each caller's credentials still stand: the session its token names has not
    ended (sign-out, reused refresh token, password change) and its user is not deleted;
    for a partner, its client is enabled and its secret was not rotated after the token
    was issued. At most three queries, however many callers; once per request through the
    request's loader."""
    users = [p for p in principals if not p.is_partner]
    session_ids = {p.session_id for p in users if p.session_id is not None}
    bare_user_ids = {p.subject_id for p in users if p.session_id is None}
    partner_ids = {p.subject_id for p in principals if p.is_partner}

    live_sessions: dict[int, int] = {}
    if session_ids:
        rows = await Session.filter(
            id__in=session_ids, ended_at=None, user__deleted_at=None
        ).values_list("id", "user_id")
        live_sessions = {int(sid): int(uid) for sid, uid in rows}
    live_users: set[int] = set()
    if bare_user_ids:
        rows = await User.filter(id__in=bare_user_ids, deleted_at=None).values_list("id")
        live_users = {int(uid) for (uid,) in rows}
    # (disabled_at, secret_rotated_at): datetimes or None.
    partners: dict[int, tuple[datetime | None, datetime | None]] = {}
    if partner_ids:
        rows = await PartnerClient.filter(id__in=partner_ids).values_list(
            "id", "disabled_at", "secret_rotated_at"
        )
        partners = {int(pk): (disabled, rotated) for pk, disabled, rotated in rows}

    answers = []
    for principal in principals:
        if principal.is_partner:
            answers.append(_partner_alive(principal, partners.get(principal.subject_id)))
        elif principal.session_id is not None:
            answers.append(live_sessions.get(principal.session_id) == principal.subject_id)
        else:
            answers.append(principal.subject_id in live_users)
    return answers


async def confirm_caller(
    principal: Principal, reads: Collection[str] | None = None
) -> tuple[bool, User | None]:
    """Whether the caller's credentials still stand (see `principals_alive`) and, for a
    user signed in with a session, the account's row: one statement, so that a screen about
    the signed-in customer starts without another round trip for its row. In a customer's
    query, the rows other features read about them ride in the same statement
    (`app.core.reads.ride_with_caller`: wallet, tier spend, purchase profile; those of the
    `reads` named, when named)."""
    if principal.is_partner:
        return (await principals_alive([principal]))[0], None
    riders: list[Rider] = []
    # For a customer (an admin holds no wallet), when the currency is known without a
    # statement (the settings in memory).
    program = program_in_memory() if sharing() and principal.is_customer else None
    if program is not None:
        riders = riders_for(principal.subject_id, program.currency_code, clock.now(), reads)
    session, params = "", []
    if principal.session_id is not None:
        session = " JOIN auth_sessions s ON s.user_id = u.id AND s.id = ? AND s.ended_at IS NULL"
        params.append(principal.session_id)
    for rider in riders:
        params += rider.params
    row = await db.one(
        f"SELECT u.*{''.join(f', {r.columns}' for r in riders)} FROM users u{session}"  # noqa: S608
        f"{''.join(f' {r.join}' for r in riders)} WHERE u.id = ? AND u.deleted_at IS NULL",
        *params,
        principal.subject_id,
    )
    if row is None:
        return False, None
    user = User._init_from_db(**row)
    for rider in riders:
        rider.keep(row)
    remember(BIRTH_DATE, user.id, user.birth_date)
    return True, user


def _partner_alive(
    principal: Principal, row: tuple[datetime | None, datetime | None] | None
) -> bool:
    if row is None:
        # Clients are disabled, never deleted: a signed token names one that existed.
        return True
    disabled_at, rotated_at = row
    if disabled_at is not None:
        return False
    if rotated_at is not None and principal.issued_at is not None:
        return int(rotated_at.timestamp()) <= principal.issued_at
    return True


async def invited_count_of(user_ids: list[int]) -> list[int]:
    counts = await invited_counts(user_ids)
    return [counts.get(user_id, 0) for user_id in user_ids]
