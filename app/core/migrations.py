"""Migration steps the ORM's own operations lack."""

from __future__ import annotations

import re

from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State


class CreateDeclaredCheck(ops.AddConstraint):
    """Create in the database a CHECK constraint that an earlier `CreateModel` recorded in
    its options: `CreateModel` keeps such a constraint in the migration state but never
    creates it. The state already has it, so only the database changes.

    SQLite cannot add a CHECK to a table that exists, and the ORM's table rebuild would
    lose the table's indexes and unique keys, so there the same condition is enforced by
    triggers that refuse a row breaking it, as a CHECK would."""

    def state_forward(self, app_label: str, state: State) -> None:
        return None

    async def database_forward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        if state_editor is None or state_editor.DIALECT != "sqlite":
            await super().database_forward(app_label, old_state, new_state, state_editor)
            return
        meta = new_state.apps.get_model(f"{app_label}.{self.model_name}")._meta
        columns = "|".join(re.escape(c) for c in meta.fields_db_projection.values())
        name = self.constraint.name
        # In a trigger the row's columns are NEW.<column>; compared as numbers, since
        # SQLite keeps decimals as text, which would compare as text.
        check = re.sub(
            rf"\b({columns})\b",
            r'CAST(NEW."\1" AS NUMERIC)',
            self.constraint.check,  # type: ignore[union-attr]
        )
        for event in ("INSERT", "UPDATE"):
            # One statement as it is: the editor's own runner splits at every ";".
            await state_editor.client.execute_query(
                f'CREATE TRIGGER "{name}_{event.lower()}" BEFORE {event} ON "{meta.db_table}"'
                f" WHEN NOT ({check})"
                f" BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {name}'); END"
            )

    async def database_backward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        if state_editor is None or state_editor.DIALECT != "sqlite":
            await super().database_backward(app_label, old_state, new_state, state_editor)
            return
        name = self.constraint.name
        for event in ("insert", "update"):
            await state_editor._run_sql(f'DROP TRIGGER IF EXISTS "{name}_{event}"')
