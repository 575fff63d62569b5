"""Who may read the program's metrics, and which periods are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.core import clock
from tests.factories import make_admin, make_customer
from tests.insights.factories import CONTRACT_QUERY, FULL_QUERY, metrics, usd
from tests.support import Api, error_codes

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 2, 1, tzinfo=UTC)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}


async def test_an_admin_reads_the_contract_document_of_an_empty_program(api: Api) -> None:
    admin = await make_admin()
    found = await metrics(api, api.token_for(admin), START, END, query=CONTRACT_QUERY)
    zero = usd("0.00")
    assert found == {
        "activeCustomers": 0,
        "repurchaseRate": None,
        "retentionRate": None,
        "omnichannelRate": None,
        "averageTicket": None,
        "averageTicketWithRedemption": None,
        "averageTicketWithoutRedemption": None,
        "lifetimeValue": None,
        "cashbackIssued": zero,
        "cashbackRedeemed": zero,
        "cashbackExpired": zero,
        "outstandingLiability": zero,
    }


async def test_an_empty_period_has_zeros_and_nulls_in_every_addition(api: Api) -> None:
    admin = await make_admin()
    found = await metrics(api, api.token_for(admin), START, END, interval="WEEK")
    assert found["purchaseCount"] == 0
    assert found["sales"] == usd("0.00")
    assert len(found["finance"]) == 10
    assert all(v == usd("0.00") for v in found["finance"].values())
    assert [c["channel"] for c in found["byChannel"]] == ["ONLINE", "IN_STORE"]
    assert all(c["averageTicket"] is None for c in found["byChannel"])
    assert [(s["kind"], s["key"]) for s in found["bySegment"]] == [
        ("TIER", "BRONZE"),
        ("TIER", "SILVER"),
        ("TIER", "GOLD"),
        ("LIFECYCLE", "NEW"),
        ("LIFECYCLE", "RETURNING"),
    ]
    assert found["cohorts"] == []
    # 1 January 2026 is a Thursday: the first week is cut to it, then Monday to Monday.
    assert [p["from"][:10] for p in found["series"]] == [
        "2026-01-01",
        "2026-01-05",
        "2026-01-12",
        "2026-01-19",
        "2026-01-26",
    ]
    assert all(p["repurchaseRate"] is None and p["retentionRate"] is None for p in found["series"])
    assert found["topOffers"] == []


async def test_a_customer_is_forbidden_and_an_anonymous_caller_unauthenticated(api: Api) -> None:
    customer = await make_customer()
    answer = await api.gql(CONTRACT_QUERY, PERIOD, token=api.token_for(customer))
    assert error_codes(answer) == ["FORBIDDEN"] and answer["data"] is None
    answer = await api.gql(CONTRACT_QUERY, PERIOD)
    assert error_codes(answer) == ["UNAUTHENTICATED"] and answer["data"] is None


async def test_a_partner_is_forbidden(api: Api) -> None:
    token = api.partner_token(["purchases:read", "purchases:write", "offers:read"])
    answer = await api.gql(CONTRACT_QUERY, PERIOD, token=token)
    assert error_codes(answer) == ["FORBIDDEN"]


async def _refusal(api: Api, token: str, start: str, end: str) -> dict:
    # A field that ran refused its arguments: HTTP 200, as every field error.
    answer = await api.gql(CONTRACT_QUERY, {"from": start, "to": end}, token=token)
    assert answer["data"] is None
    [error] = answer["errors"]
    return error


async def test_a_period_that_does_not_end_after_it_starts_is_refused_at_to(api: Api) -> None:
    token = api.token_for(await make_admin())
    for start, end in [(END, START), (START, START)]:
        error = await _refusal(api, token, start.isoformat(), end.isoformat())
        assert error["extensions"] == {"code": "INVALID_INPUT", "field": ["to"]}
        assert error["path"] == ["programMetrics"]


async def test_a_period_of_more_than_five_years_is_refused_and_five_years_is_not(
    api: Api,
) -> None:
    token = api.token_for(await make_admin())
    five_years = datetime(2031, 1, 1, tzinfo=UTC)
    error = await _refusal(
        api, token, START.isoformat(), (five_years + timedelta(seconds=1)).isoformat()
    )
    assert error["extensions"] == {"code": "INVALID_INPUT", "field": ["to"]}
    found = await metrics(api, token, START, five_years, query=CONTRACT_QUERY)
    assert found["activeCustomers"] == 0


async def test_times_are_read_in_their_offset_and_without_one_as_utc(api: Api) -> None:
    token = api.token_for(await make_admin())
    found = await metrics(api, token, "2026-01-01T09:00:00+09:00", "2026-01-02T00:00:00")
    assert (found["from"], found["to"]) == (
        "2026-01-01T00:00:00+00:00",
        "2026-01-02T00:00:00+00:00",
    )


async def test_a_time_that_is_not_iso_8601_is_refused_before_anything_runs(api: Api) -> None:
    token = api.token_for(await make_admin())
    response = await api.post(
        CONTRACT_QUERY, {"from": "yesterday", "to": END.isoformat()}, token=token
    )
    assert response.status_code == 400
    assert error_codes(response.json()) == ["INVALID_INPUT"]


async def test_a_daily_series_of_more_than_1100_days_is_refused_at_interval(api: Api) -> None:
    token = api.token_for(await make_admin())
    end = START + timedelta(days=1101)
    answer = await api.gql(
        FULL_QUERY,
        {"from": START.isoformat(), "to": end.isoformat(), "interval": "DAY"},
        token=token,
    )
    assert error_codes(answer) == ["INVALID_INPUT"]
    assert answer["errors"][0]["extensions"]["field"] == ["interval"]
    assert answer["errors"][0]["path"] == ["programMetrics", "series"]
    ok = await api.gql(
        FULL_QUERY,
        {
            "from": START.isoformat(),
            "to": (START + timedelta(days=1100)).isoformat(),
            "interval": "DAY",
        },
        token=token,
    )
    assert "errors" not in ok and len(ok["data"]["programMetrics"]["series"]) == 1100


async def test_top_offers_refuses_a_negative_first(api: Api) -> None:
    token = api.token_for(await make_admin())
    answer = await api.gql(FULL_QUERY, {**PERIOD, "first": -1}, token=token)
    assert error_codes(answer) == ["INVALID_INPUT"]
    assert answer["errors"][0]["extensions"]["field"] == ["first"]
    assert clock.now()  # the clock was never moved
