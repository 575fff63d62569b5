from __future__ import annotations

import strawberry

from app.program import service
from app.program.types import Program


@strawberry.type
class Query:
    @strawberry.field(description="The program's settings and current terms (public).")
    async def program(self) -> Program:
        program = await service.get_program()
        return Program.of(program, terms=await service.terms_text(program.terms_version))
