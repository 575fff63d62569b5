"""Signing in: one answer for every wrong email or password, the same work either way,
throttled failures, and password hashes kept at the current Argon2id parameters."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from argon2 import PasswordHasher

from app.accounts import passwords
from app.accounts.models import User
from app.core import clock
from app.throttling import service as throttling
from tests.accounts.factories import PASSWORD, sign_in, sign_up
from tests.support import Api, error_codes
from tests.throttling.support import forget, redis_backend_or_skip


def sign_in_errors(answer: dict) -> list[tuple[str, object, str]]:
    return [(e["code"], e["field"], e["message"]) for e in answer["data"]["signIn"]["userErrors"]]


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hashes Argon2 verified passwords against, in order."""
    seen: list[str] = []
    real = passwords._hasher

    class Spy:
        def verify(self, password_hash: str, password: str) -> bool:
            seen.append(password_hash)
            return real.verify(password_hash, password)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    monkeypatch.setattr(passwords, "_hasher", Spy())
    return seen


async def test_an_unknown_email_and_a_wrong_password_get_the_same_answer_and_work(
    api: Api, verifications: list[str]
) -> None:
    await sign_up(api, email="hana@example.com")

    unknown = await sign_in(api, "nobody@example.com", PASSWORD)
    wrong = await sign_in(api, "hana@example.com", "not-the-password-at-all")

    assert sign_in_errors(unknown) == sign_in_errors(wrong)
    assert [code for code, _, _ in sign_in_errors(wrong)] == ["INVALID_CREDENTIALS"]
    assert unknown["data"]["signIn"]["session"] is None
    assert wrong["data"]["signIn"]["session"] is None
    # An Argon2 verification in both cases (a dummy hash for the unknown email), so
    # the response time does not tell whether the account exists.
    assert len(verifications) == 2
    assert all(h.startswith("$argon2id$") for h in verifications)


async def test_email_is_matched_case_insensitively(api: Api) -> None:
    await sign_up(api, email="Ines.Moreau@Example.com")
    answer = await sign_in(api, "  INES.moreau@example.COM ")
    assert answer["data"]["signIn"]["session"]["accessToken"]


async def test_after_ten_failures_sign_in_is_rate_limited_until_the_window_passes(
    api: Api,
) -> None:
    await sign_up(api, email="jo@example.com")
    for _ in range(10):
        answer = await sign_in(api, "jo@example.com", "wrong-password-guess")
        assert [c for c, _, _ in sign_in_errors(answer)] == ["INVALID_CREDENTIALS"]

    # The eleventh attempt is refused without checking, even with the right password.
    limited = await sign_in(api, "jo@example.com", PASSWORD)
    assert error_codes(limited) == ["RATE_LIMITED"]
    assert limited["data"] is None

    clock.advance(timedelta(minutes=14))
    assert error_codes(await sign_in(api, "jo@example.com", PASSWORD)) == ["RATE_LIMITED"]
    clock.advance(timedelta(minutes=1, seconds=1))
    answer = await sign_in(api, "jo@example.com", PASSWORD)
    assert answer["data"]["signIn"]["session"]["accessToken"]


async def test_failures_from_one_address_on_many_accounts_are_rate_limited(api: Api) -> None:
    await sign_up(api, email="kim@example.com")
    for n in range(20):
        await sign_in(api, f"guess{n}@example.com", "some-password-guess")
    assert error_codes(await sign_in(api, "kim@example.com", PASSWORD)) == ["RATE_LIMITED"]

    # Another address is not affected.
    transport = httpx.ASGITransport(app=api.client._transport.app, client=("203.0.113.7", 4000))  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        answer = await Api(other, api.settings).gql(
            "mutation S($i: SignInInput!) { signIn(input: $i) { session { accessToken } } }",
            {"i": {"email": "kim@example.com", "password": PASSWORD}},
        )
    assert answer["data"]["signIn"]["session"]["accessToken"]


async def test_successful_sign_ins_are_not_counted_as_failures(api: Api) -> None:
    await sign_up(api, email="lu@example.com")
    for _ in range(9):
        await sign_in(api, "lu@example.com", "wrong-password-guess")
    for _ in range(12):
        answer = await sign_in(api, "lu@example.com", PASSWORD)
        assert answer["data"]["signIn"]["session"] is not None


async def test_a_deleted_account_cannot_sign_in(api: Api) -> None:
    await sign_up(api, email="ny@example.com")
    await User.filter(email="ny@example.com").update(deleted_at=clock.now())
    answer = await sign_in(api, "ny@example.com", PASSWORD)
    assert [c for c, _, _ in sign_in_errors(answer)] == ["INVALID_CREDENTIALS"]


async def test_passwords_are_hashed_with_argon2id_at_owasp_parameters(api: Api) -> None:
    await sign_up(api, email="ola@example.com")
    stored = await User.get(email="ola@example.com")
    assert stored.password_hash.startswith("$argon2id$")
    params = dict(p.split("=") for p in stored.password_hash.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024
    assert int(params["t"]) >= 2
    assert int(params["p"]) >= 1
    assert PASSWORD not in stored.password_hash


async def test_a_hash_with_old_parameters_is_upgraded_at_sign_in(api: Api) -> None:
    await sign_up(api, email="pia@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    await User.filter(email="pia@example.com").update(password_hash=weak)

    answer = await sign_in(api, "pia@example.com", PASSWORD)
    assert answer["data"]["signIn"]["session"] is not None

    upgraded = (await User.get(email="pia@example.com")).password_hash
    assert upgraded != weak
    assert not passwords.needs_rehash(upgraded)
    assert await passwords.verify_password(upgraded, PASSWORD)


async def test_sign_in_throttling_works_on_redis(api: Api) -> None:
    prefix = f"test-sign-in:{uuid.uuid4().hex}:"
    backend = await redis_backend_or_skip(prefix)
    throttling.use_backend(backend)
    try:
        await sign_up(api, email="quin@example.com")
        for _ in range(10):
            await sign_in(api, "quin@example.com", "wrong-password-guess")
        assert error_codes(await sign_in(api, "quin@example.com", PASSWORD)) == ["RATE_LIMITED"]
        assert [key async for key in backend.client.scan_iter(match=prefix + "*")]
        clock.advance(timedelta(minutes=15, seconds=1))
        assert (await sign_in(api, "quin@example.com"))["data"]["signIn"]["session"]
    finally:
        await forget(backend)
