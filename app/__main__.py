"""The command line: `python -m app <command>` (see `--help`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from app.settings import Settings, get_settings


def _run_with_db(work: Callable[[Settings], Awaitable[int]]) -> int:
    from app import db

    async def main() -> int:
        settings = get_settings()
        await db.init_db(settings)
        try:
            return await work(settings)
        finally:
            await db.close_db()

    return asyncio.run(main())


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    trusted_proxies = settings.forwarded_allow_ips or None
    workers = None if args.reload else (args.workers or settings.workers)
    # Each worker process reads its settings anew: it learns how many serve the database
    # (on SQLite, several keep nothing in memory; app.cache).
    os.environ["WORKERS"] = str(workers or 1)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        reload=args.reload,
        loop="uvloop",
        http="httptools",
        # X-Forwarded-For is believed only from the configured proxies; otherwise the
        # client is the socket's peer (uvicorn alone would trust 127.0.0.1).
        proxy_headers=trusted_proxies is not None,
        forwarded_allow_ips=trusted_proxies,
        # A WebSocket message is bounded like a request body (uvicorn alone allows 16 MiB).
        ws_max_size=settings.max_body_bytes,
        # The WebSocket protocol's own keepalive, besides graphql-transport-ws's ping
        # (app/graphql/websocket.py): a peer whose connection died is dropped.
        ws_ping_interval=settings.ws_ping_interval_seconds,
        ws_ping_timeout=settings.ws_ping_timeout_seconds,
        access_log=not settings.is_production,
        log_level=settings.log_level.lower(),
        # uvicorn logs through our handlers: JSON in production, with request ids.
        log_config=None,
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from app import db

    async def main() -> int:
        # A migration may build an index over a large table: no statement timeout here.
        try:
            await db.migrate_db(get_settings().model_copy(update={"db_statement_timeout_ms": 0}))
        finally:
            # Also after a failed step: an open SQLite connection would keep the process alive.
            await db.close_db()
        print("migrations applied")
        return 0

    return asyncio.run(main())


def cmd_makemigrations(args: argparse.Namespace) -> int:
    from tortoise.cli.cli import CLIContext, makemigrations

    async def main() -> int:
        await makemigrations(
            CLIContext("app.db.TORTOISE_ORM", None), tuple(args.apps), False, args.name
        )
        return 0

    return asyncio.run(main())


def cmd_create_admin(args: argparse.Namespace) -> int:
    from app.accounts.service import create_admin
    from app.core.errors import DomainError

    async def work(settings: Settings) -> int:
        try:
            user, created = await create_admin(email=args.email, password=args.password)
        except DomainError as error:
            print(f"error: {error.message}", file=sys.stderr)
            return 2
        print(f"{'created' if created else 'updated'} admin {user.email}")
        return 0

    return _run_with_db(work)


def cmd_create_partner(args: argparse.Namespace) -> int:
    from app.accounts.partners import create_partner_client, merchant_pk
    from app.core.errors import DomainError, DomainErrors

    async def work(settings: Settings) -> int:
        try:
            issued = await create_partner_client(
                name=args.name,
                scopes=args.scopes.split(","),
                merchant_id=merchant_pk(args.merchant, field=["merchant"]),
                field_prefix=(),
            )
        except (DomainError, DomainErrors) as error:
            errors = error.errors if isinstance(error, DomainErrors) else [error]
            for each in errors:
                print(f"error: {'.'.join(each.field or [])}: {each.message}", file=sys.stderr)
            return 2
        print(f"created partner client {issued.client.name!r} ({issued.client.scopes})")
        print(f"client_id={issued.client_id}")
        print(f"client_secret={issued.client_secret}")
        print("The secret is shown only now: store it safely.", file=sys.stderr)
        return 0

    return _run_with_db(work)


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from app.demo import DatabaseNotEmpty, is_empty, seed_demo

    if get_settings().is_production:
        # The demo's accounts have published passwords: never in a production database.
        if args.if_empty:
            print("APP_ENV=production: not seeding the demo")
            return 0
        print("error: seed-demo refuses to run with APP_ENV=production", file=sys.stderr)
        return 4

    async def work(settings: Settings) -> int:
        if args.if_empty and not await is_empty():
            print("the database has data: not seeding the demo")
            return 0
        try:
            summary = await seed_demo(force=args.force, seed=args.seed)
        except DatabaseNotEmpty as error:
            print(f"error: {error}", file=sys.stderr)
            return 3
        print("seeded: " + ", ".join(f"{count} {name}" for name, count in summary.items()))
        return 0

    return _run_with_db(work)


def cmd_check_ledger(args: argparse.Namespace) -> int:
    from app.ledger import reconcile

    async def work(settings: Settings) -> int:
        problems = await reconcile()
        for problem in problems:
            print(problem)
        if problems:
            print(f"the ledger does not reconcile: {len(problems)} problem(s)", file=sys.stderr)
            return 1
        print("the ledger reconciles")
        return 0

    return _run_with_db(work)


def cmd_rebuild_profiles(args: argparse.Namespace) -> int:
    from app.cashback.profiles import rebuild_profiles
    from app.core import clock

    async def work(settings: Settings) -> int:
        count = await rebuild_profiles(now=clock.now())
        print(f"rebuilt {count} customer profiles")
        return 0

    return _run_with_db(work)


def cmd_rebuild_tier_spend(args: argparse.Namespace) -> int:
    from app.cashback.spend import rebuild_window_spends
    from app.core import clock

    async def work(settings: Settings) -> int:
        count = await rebuild_window_spends(now=clock.now())
        print(f"rebuilt the tier spend of {count} customers")
        return 0

    return _run_with_db(work)


def cmd_rebuild_suggestions(args: argparse.Namespace) -> int:
    from app.cashback.baskets import rebuild_co_purchases

    async def work(settings: Settings) -> int:
        count = await rebuild_co_purchases()
        print(f"rebuilt the co-purchase statistics from {count} purchases")
        return 0

    return _run_with_db(work)


def cmd_worker(args: argparse.Namespace) -> int:
    from app.core.logging import configure_logging
    from app.worker import run_forever, run_once

    async def work(settings: Settings) -> int:
        from app.throttling.service import configure

        configure_logging(json_logs=settings.is_production, level=settings.log_level)
        configure(settings)
        if args.once:
            print(await run_once())
        else:
            await run_forever(interval=args.interval)
        return 0

    return _run_with_db(work)


def cmd_export_schema(args: argparse.Namespace) -> int:
    from app.graphql.schema import schema_sdl

    sys.stdout.write(schema_sdl())
    return 0


def cmd_export_trusted_documents(args: argparse.Namespace) -> int:
    from app.graphql import trusted

    contract = Path(args.contract) if args.contract else trusted.DEFAULT_CONTRACT
    if not contract.is_dir():
        sys.stderr.write(f"no contract folder at {contract}\n")
        return 1
    sys.stdout.write(trusted.manifest_json(trusted.build_manifest(trusted.source_files(contract))))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--reload", action="store_true")
    serve.set_defaults(run=cmd_serve)

    commands.add_parser("migrate", help="apply the database migrations").set_defaults(
        run=cmd_migrate
    )

    make = commands.add_parser("makemigrations", help="write migrations for changed models")
    make.add_argument("apps", nargs="*")
    make.add_argument("--name")
    make.set_defaults(run=cmd_makemigrations)

    admin = commands.add_parser("create-admin", help="create an admin (or make a user one)")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.set_defaults(run=cmd_create_admin)

    partner = commands.add_parser(
        "create-partner", help="create a partner system's client (prints its secret once)"
    )
    partner.add_argument("--name", required=True)
    partner.add_argument(
        "--scopes", required=True, help="comma-separated, e.g. purchases:write,offers:read"
    )
    partner.add_argument("--merchant", help="the merchant's id (number or opaque id)")
    partner.set_defaults(run=cmd_create_partner)

    seed = commands.add_parser("seed-demo", help="fill an empty database with a demo program")
    seed.add_argument("--force", action="store_true", help="seed even if data exists")
    seed.add_argument("--if-empty", action="store_true", help="do nothing if data exists")
    seed.add_argument("--seed", type=int, default=7, help="random seed")
    seed.set_defaults(run=cmd_seed_demo)

    commands.add_parser(
        "check-ledger", help="reconcile the ledger; exit 1 on any mismatch"
    ).set_defaults(run=cmd_check_ledger)

    commands.add_parser(
        "rebuild-profiles", help="rebuild every customer's purchase profile from the purchases"
    ).set_defaults(run=cmd_rebuild_profiles)
    commands.add_parser(
        "rebuild-tier-spend",
        help="rebuild every customer's spend of the last 365 days (their tier) from the purchases",
    ).set_defaults(run=cmd_rebuild_tier_spend)
    commands.add_parser(
        "rebuild-suggestions",
        help="rebuild the co-purchase statistics (related products) from the purchases",
    ).set_defaults(run=cmd_rebuild_suggestions)

    worker = commands.add_parser(
        "worker", help="settle wallets, deliver the outbox and tidy tables, until SIGTERM"
    )
    worker.add_argument("--interval", type=float, default=10.0, help="seconds between rounds")
    worker.add_argument("--once", action="store_true", help="one round, then exit")
    worker.set_defaults(run=cmd_worker)

    commands.add_parser("export-schema", help="print the GraphQL SDL").set_defaults(
        run=cmd_export_schema
    )
    trusted = commands.add_parser(
        "export-trusted-documents",
        help="print the built-in trusted documents (app/graphql/trusted_documents.json)",
    )
    trusted.add_argument(
        "--contract",
        help="the contract's folder (default: ../shared/contract beside the repository)",
    )
    trusted.set_defaults(run=cmd_export_trusted_documents)
    return root


def main(argv: list[str] | None = None) -> int:
    args: Any = parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
