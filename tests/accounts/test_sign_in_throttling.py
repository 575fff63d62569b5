"""Sign-in throttling that slows a guesser without locking the owner out: failures count
per account and address, per address, and per account with growing waits; a device that
signed in before (its device token) is judged by its own failures only."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import httpx
import pytest

from app.accounts import service as accounts
from app.accounts.models import Session, User
from app.core import clock
from app.core.errors import RateLimited
from app.settings import Settings
from app.throttling import service as throttling
from app.throttling.backends import DatabaseBackend, RedisBackend
from tests.accounts.factories import PASSWORD, sign_up_input
from tests.support import Api, error_codes
from tests.throttling.support import forget, redis_backend_or_skip

SIGN_IN = """
mutation SignIn($input: SignInInput!) {
  signIn(input: $input) {
    session { accessToken refreshToken }
    deviceToken
    userErrors { code field message }
  }
}
"""
SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { session { accessToken } deviceToken userErrors { code field } }
}
"""
CHANGE_PASSWORD = """
mutation ChangePassword($input: ChangePasswordInput!) {
  changePassword(input: $input) {
    session { accessToken }
    deviceToken
    userErrors { code field message }
  }
}
"""
WRONG = "not-the-password-at-all"
OWNER_HOME = "192.0.2.10"
ATTACKER = "203.0.113.66"


@pytest.fixture(autouse=True)
def still_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Time moves only when the test moves it: on a slow machine the waits this file is
    about must not pass by themselves."""
    start = datetime.now(UTC)

    class Still(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return start

    monkeypatch.setattr(clock, "datetime", Still)


@pytest.fixture(params=["database", "redis"])
async def backend(request: pytest.FixtureRequest, db: Settings) -> AsyncIterator[str]:
    """The main stories hold on either throttling backend."""
    if request.param == "redis":
        chosen: Any = await redis_backend_or_skip(f"test-sign-in:{uuid.uuid4().hex}:")
    else:
        chosen = DatabaseBackend()
    throttling.use_backend(chosen)
    yield request.param
    throttling.use_backend(None)
    if isinstance(chosen, RedisBackend):
        await forget(chosen)


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords sign-in checked, in order (a refused attempt checks none)."""
    checked: list[str] = []
    real = accounts.verify_password

    async def spy(password_hash: str | None, password: str) -> bool:
        checked.append(password)
        return await real(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", spy)
    return checked


async def call(api: Api, address: str, query: str, variables: dict[str, Any], **kw: Any) -> dict:
    """A request from `address`."""
    app = api.client._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, client=(address, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await Api(client, api.settings).gql(query, variables, **kw)


async def sign_in_from(
    api: Api, address: str, email: str, password: str = PASSWORD, device: str | None = None
) -> dict:
    given: dict[str, Any] = {"email": email, "password": password}
    if device is not None:
        given["deviceToken"] = device
    return await call(api, address, SIGN_IN, {"input": given})


def outcome(answer: dict) -> str:
    """What the person at the keyboard sees: signed in, refused, or told to wait."""
    if answer.get("errors"):
        [code] = error_codes(answer)
        return code
    payload = answer["data"]["signIn"]
    if payload["session"]:
        assert payload["deviceToken"]
        return "SIGNED_IN"
    [error] = payload["userErrors"]
    return error["code"]


async def owner_with_a_phone(api: Api, email: str) -> str:
    """A customer who signed up on their phone: the phone's device token."""
    answer = await call(api, OWNER_HOME, SIGN_UP, {"input": sign_up_input(email=email)})
    payload = answer["data"]["signUp"]
    assert payload["userErrors"] == []
    return payload["deviceToken"]


async def sessions_of(email: str) -> int:
    user = await User.get(email=email)
    return await Session.filter(user_id=user.id, ended_at=None).count()


async def test_fifty_guesses_from_many_addresses_do_not_lock_the_owner_out_of_their_phone(
    api: Api, backend: str, verified: list[str]
) -> None:
    phone = await owner_with_a_phone(api, "ana@example.com")

    seen = [
        outcome(await sign_in_from(api, f"198.51.100.{n}", "ana@example.com", f"guess-{n:04}"))
        for n in range(50)
    ]
    # Ten guesses are checked; after that each must wait longer than the last, and every
    # early one is refused without a look at the password.
    assert seen == ["INVALID_CREDENTIALS"] * 10 + ["RATE_LIMITED"] * 40
    assert verified == [f"guess-{n:04}" for n in range(10)]

    # The owner, on the phone that signed in before, gets in at once.
    assert outcome(await sign_in_from(api, OWNER_HOME, "ana@example.com", device=phone)) == (
        "SIGNED_IN"
    )
    # A device the account has never seen waits, even with the right password, unchecked.
    new_laptop = await sign_in_from(api, "192.0.2.77", "ana@example.com")
    assert outcome(new_laptop) == "RATE_LIMITED"
    assert new_laptop["errors"][0]["message"] == "Too many failed sign-ins. Try again in 1 second."
    assert new_laptop["errors"][0]["extensions"]["retryAfter"] == 1
    assert verified[10:] == [PASSWORD]
    # The attacker's addresses are still refused; the owner has the two sessions they made.
    assert outcome(await sign_in_from(api, "198.51.100.3", "ana@example.com", WRONG)) == (
        "RATE_LIMITED"
    )
    assert await sessions_of("ana@example.com") == 2


async def test_an_address_guessing_one_account_is_stopped_while_the_owner_signs_in_elsewhere(
    api: Api, backend: str
) -> None:
    await owner_with_a_phone(api, "ben@example.com")
    for _ in range(10):
        answer = await sign_in_from(api, ATTACKER, "ben@example.com", WRONG)
        assert outcome(answer) == "INVALID_CREDENTIALS"

    # The attacker's address is done with this account for 15 minutes, right password or not.
    assert outcome(await sign_in_from(api, ATTACKER, "ben@example.com")) == "RATE_LIMITED"
    # The owner on a new device elsewhere waits a second (the account's first wait)...
    assert outcome(await sign_in_from(api, "192.0.2.20", "ben@example.com")) == "RATE_LIMITED"
    clock.advance(timedelta(seconds=1))
    assert outcome(await sign_in_from(api, "192.0.2.20", "ben@example.com")) == "SIGNED_IN"
    # ...and the attacker's address stays refused until its window has passed.
    clock.advance(timedelta(minutes=14))
    assert outcome(await sign_in_from(api, ATTACKER, "ben@example.com", WRONG)) == ("RATE_LIMITED")
    clock.advance(timedelta(minutes=1))
    assert outcome(await sign_in_from(api, ATTACKER, "ben@example.com", WRONG)) == (
        "INVALID_CREDENTIALS"
    )


async def test_failures_from_anywhere_make_each_further_attempt_wait_twice_as_long(
    db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Argon2 is not what this test is about: a fast stand-in keeps it short.
    async def fast_verify(password_hash: str | None, password: str) -> bool:
        return password_hash is not None and password == PASSWORD

    monkeypatch.setattr(accounts, "verify_password", fast_verify)
    await accounts.create_user(email="cy@example.com", password=PASSWORD, display_name="Cy")
    addresses = itertools.count(1)

    async def attempt(password: str = WRONG) -> str:
        try:
            await accounts.sign_in(
                settings=db,
                email="cy@example.com",
                password=password,
                client=accounts.Client(address=f"10.0.0.{next(addresses)}"),
            )
        except accounts.InvalidCredentials:
            return "INVALID_CREDENTIALS"
        except RateLimited as limited:
            return f"wait {limited.retry_after}"
        return "SIGNED_IN"

    assert [await attempt() for _ in range(10)] == ["INVALID_CREDENTIALS"] * 10
    waits = []
    for _ in range(14):
        refused = await attempt()
        waits.append(int(refused.removeprefix("wait ")))
        clock.advance(timedelta(seconds=waits[-1]))
        assert await attempt() == "INVALID_CREDENTIALS"
    # 1 s, doubling, never more than 15 minutes.
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]

    # The right password waits its turn like any other attempt from an unknown device.
    assert await attempt(PASSWORD) == "wait 900"
    clock.advance(timedelta(minutes=15))
    assert await attempt(PASSWORD) == "SIGNED_IN"
    # Signing in does not wipe the account's count: a guesser gets no fresh start (the
    # turn the owner took is given back, and the next one is 15 minutes away again).
    assert await attempt() == "INVALID_CREDENTIALS"
    assert await attempt() == "wait 900"
    # A day after the failures, they are forgotten.
    clock.advance(timedelta(days=1))
    assert await attempt() == "INVALID_CREDENTIALS"


async def test_a_known_device_is_held_back_by_its_own_failures_only(api: Api) -> None:
    phone = await owner_with_a_phone(api, "dee@example.com")
    for _ in range(10):
        answer = await sign_in_from(api, OWNER_HOME, "dee@example.com", WRONG, device=phone)
        assert outcome(answer) == "INVALID_CREDENTIALS"

    # Someone with the phone cannot keep guessing...
    assert outcome(await sign_in_from(api, OWNER_HOME, "dee@example.com", device=phone)) == (
        "RATE_LIMITED"
    )
    # ...but the account and the address were not touched: a new device signs in at once.
    assert outcome(await sign_in_from(api, OWNER_HOME, "dee@example.com")) == "SIGNED_IN"
    clock.advance(timedelta(minutes=15))
    assert outcome(await sign_in_from(api, OWNER_HOME, "dee@example.com", device=phone)) == (
        "SIGNED_IN"
    )


async def test_an_address_spraying_many_accounts_is_stopped_but_known_devices_behind_it_work(
    api: Api,
) -> None:
    phone = await owner_with_a_phone(api, "eve@example.com")
    await owner_with_a_phone(api, "fay@example.com")
    office = "198.51.100.200"
    for n in range(20):
        answer = await sign_in_from(api, office, f"someone{n}@example.com", WRONG)
        assert outcome(answer) == "INVALID_CREDENTIALS"

    # Everyone signing in from this address on a device the account has not seen waits...
    assert outcome(await sign_in_from(api, office, "fay@example.com")) == "RATE_LIMITED"
    assert outcome(await sign_in_from(api, office, "someone99@example.com", WRONG)) == (
        "RATE_LIMITED"
    )
    # ...but a known device behind it signs in.
    assert outcome(await sign_in_from(api, office, "eve@example.com", device=phone)) == (
        "SIGNED_IN"
    )


async def test_a_device_token_proves_nothing_for_another_account_or_when_tampered_with(
    api: Api, verified: list[str]
) -> None:
    victim_phone = await owner_with_a_phone(api, "gil@example.com")
    attackers_own = await owner_with_a_phone(api, "hal@example.com")
    for n in range(10):
        await sign_in_from(api, f"198.51.100.{n}", "gil@example.com", WRONG)
    checked = len(verified)

    user_id = victim_phone.split(".")[1]
    forged = attackers_own.replace(f".{attackers_own.split('.')[1]}.", f".{user_id}.", 1)
    for token in (attackers_own, forged, victim_phone[:-2] + "xx", "dt1.garbage", "x" * 201):
        answer = await sign_in_from(api, ATTACKER, "gil@example.com", WRONG, device=token)
        assert outcome(answer) == "RATE_LIMITED"
    assert len(verified) == checked  # no guess was checked
    assert outcome(await sign_in_from(api, OWNER_HOME, "gil@example.com", device=victim_phone)) == (
        "SIGNED_IN"
    )


async def test_after_a_password_change_only_the_devices_told_of_it_are_known(api: Api) -> None:
    old_phone = await owner_with_a_phone(api, "ivy@example.com")
    signed_in = await sign_in_from(api, OWNER_HOME, "ivy@example.com")
    laptop_session = signed_in["data"]["signIn"]["session"]["accessToken"]
    clock.advance(timedelta(seconds=2))
    changed = await call(
        api,
        OWNER_HOME,
        CHANGE_PASSWORD,
        {"input": {"currentPassword": PASSWORD, "newPassword": "amber-falcon-meadow"}},
        token=laptop_session,
    )
    laptop = changed["data"]["changePassword"]["deviceToken"]
    assert laptop
    for n in range(10):
        await sign_in_from(api, f"198.51.100.{n}", "ivy@example.com", WRONG)

    # A token from before the change may be in the hands of whoever knew the old password.
    assert outcome(
        await sign_in_from(api, OWNER_HOME, "ivy@example.com", "amber-falcon-meadow", old_phone)
    ) == ("RATE_LIMITED")
    assert outcome(
        await sign_in_from(api, OWNER_HOME, "ivy@example.com", "amber-falcon-meadow", laptop)
    ) == ("SIGNED_IN")


async def test_sign_up_and_sign_in_give_a_device_token_the_contracts_clients_may_ignore(
    api: Api,
) -> None:
    phone = await owner_with_a_phone(api, "jon@example.com")
    answer = await sign_in_from(api, OWNER_HOME, "jon@example.com", device=phone)
    again = answer["data"]["signIn"]["deviceToken"]
    assert phone.startswith("dt1.") and again.startswith("dt1.") and again != phone
    user = await User.get(email="jon@example.com")
    assert phone.split(".")[1] == str(user.id)
