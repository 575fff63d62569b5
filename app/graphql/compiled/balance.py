"""The built-in `Balance` (app/ledger/documents.graphql), compiled: a widget's refresh,
answered with the caller's session check and wallet in one statement (the wallet rides
with the caller, `app.core.reads`) and serialised as `render` says.

Anything else falls back to standard execution: no token or one that is refused, a
caller who is not a customer, any variable (the document declares none), another
operation name, or the ledger raising.
"""

from __future__ import annotations

from typing import Any

from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from app import ledger
from app.graphql.compiled import render
from app.graphql.compiled.render import Fallback, render_balance
from app.graphql.context import Context
from app.program.service import get_program
from app.settings import Settings

NAME = "Balance"

# The exact text clients send (the built-in trusted document).
DOCUMENT = """query Balance {
  viewer {
    balance {
      available { amount currencyCode }
      pending { amount currencyCode }
      reserved { amount currencyCode }
      lifetimeEarned { amount currencyCode }
      nextExpiry { amount { amount currencyCode } expiresAt }
    }
  }
}
"""


# What `_viewer` reads about the customer: their wallet rides with the session check.
_READS = frozenset({"ledger.balance"})


async def _viewer(user: Any) -> dict[str, Any]:
    """viewer { balance }  (app/ledger/types.py ViewerFields.balance)"""
    program = await get_program()
    found = await ledger.get_balance(customer_id=user.id, currency=program.currency_code)
    return {"viewer": {"balance": render_balance(found)}}


class BalanceExecutor:
    name = NAME
    document = DOCUMENT

    def worst_variables(self, settings: Settings) -> dict[str, int]:
        return {}

    async def run(
        self, context: Context, request_data: GraphQLRequestData
    ) -> tuple[ExecutionResult | None, Context]:
        return await render.run(NAME, context, lambda: self._answer(context, request_data))

    async def _answer(self, context: Context, request_data: GraphQLRequestData) -> dict[str, Any]:
        if request_data.operation_name not in (None, NAME):
            raise Fallback("another operation name")
        if request_data.variables:
            raise Fallback("variables the document does not declare")
        return await render.for_customer(context, _viewer, _READS)


__all__ = ["DOCUMENT", "BalanceExecutor"]
