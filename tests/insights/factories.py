"""The metrics query, as the admin console sends it, and with every addition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import Api
from tests.test_contract import CONTRACT_DIR

# The admin console's document: the contract's file, or this copy of it where the contract
# folder is absent (tests/test_contract.py checks the file itself against the schema).
_CONSOLE_COPY = """\
# How the program is doing over a period (role ADMIN).
query ProgramMetrics($from: DateTime!, $to: DateTime!) {
  programMetrics(from: $from, to: $to) {
    activeCustomers
    repurchaseRate
    retentionRate
    omnichannelRate
    averageTicket { amount currencyCode }
    averageTicketWithRedemption { amount currencyCode }
    averageTicketWithoutRedemption { amount currencyCode }
    lifetimeValue { amount currencyCode }
    cashbackIssued { amount currencyCode }
    cashbackRedeemed { amount currencyCode }
    cashbackExpired { amount currencyCode }
    outstandingLiability { amount currencyCode }
  }
}
"""
_CONTRACT_FILE = CONTRACT_DIR / "admin" / "metrics.graphql"
CONTRACT_QUERY = _CONTRACT_FILE.read_text() if _CONTRACT_FILE.is_file() else _CONSOLE_COPY

MONEY = "{ amount currencyCode }"
FULL_QUERY = f"""
query Full($from: DateTime!, $to: DateTime!, $interval: MetricsInterval! = MONTH,
           $first: Int! = 5) {{
  programMetrics(from: $from, to: $to) {{
    activeCustomers repurchaseRate retentionRate omnichannelRate
    averageTicket {MONEY} averageTicketWithRedemption {MONEY}
    averageTicketWithoutRedemption {MONEY} lifetimeValue {MONEY}
    cashbackIssued {MONEY} cashbackRedeemed {MONEY} cashbackExpired {MONEY}
    outstandingLiability {MONEY}
    from to purchaseCount sales {MONEY}
    finance {{ pending {MONEY} available {MONEY} reserved {MONEY} outstanding {MONEY}
      issued {MONEY} redeemed {MONEY} expired {MONEY} reversed {MONEY} clawedBack {MONEY}
      forfeited {MONEY} }}
    byChannel {{ channel activeCustomers purchaseCount sales {MONEY} averageTicket {MONEY}
      redemptionCount redeemed {MONEY} }}
    bySegment {{ kind key name activeCustomers purchaseCount sales {MONEY}
      averageTicket {MONEY} }}
    cohorts {{ signUpMonth customers activeCustomers retentionRate }}
    series(interval: $interval) {{ from to activeCustomers purchaseCount sales {MONEY}
      repurchaseRate retentionRate outstandingLiability {MONEY} }}
    topOffers(first: $first) {{ offerId title activations purchaseCount
      cashbackIssued {MONEY} }}
  }}
}}
"""


async def metrics(
    api: Api, token: str, start: Any, end: Any, *, query: str = FULL_QUERY, **variables: Any
) -> dict[str, Any]:
    """The answer's `programMetrics`, which must have no errors."""
    answer = await api.gql(
        query, {"from": _text(start), "to": _text(end), **variables}, token=token
    )
    assert "errors" not in answer, answer
    return answer["data"]["programMetrics"]


def _text(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "USD"}


__all__ = ["CONTRACT_QUERY", "FULL_QUERY", "Path", "metrics", "usd"]
