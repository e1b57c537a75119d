"""`capcut-mate agent`: run an export agent against a service."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import tempfile
from pathlib import Path

TOKEN_ENV = "CAPCUT_MATE_AGENT_TOKEN"


def add_arguments(parser: argparse.ArgumentParser, *, tag_list) -> None:
    parser.add_argument("--server", required=True, help="the service's base URL, e.g. http://jobs.internal:8000")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=f"the agent's token (default: ${TOKEN_ENV}; the variable keeps it out of `ps`)")
    parser.add_argument("--tags", type=tag_list, default=[], help="comma-separated tags this agent holds")
    parser.add_argument("--concurrency", type=int, default=1, help="jobs to run at once (default 1)")
    parser.add_argument("--exporter", default="command",
                        help="command (default), a plugin name, or module:function; see docs/exporters.md")
    parser.add_argument("--command", help="the command exporter's command; {draft_url} and {output} are substituted")
    parser.add_argument("--work-dir", type=Path, help="where jobs' working folders go (default: a temp folder)")
    parser.add_argument("--drain-seconds", type=float, default=60.0,
                        help="on SIGTERM, how long running jobs may finish before they are handed back")
    parser.add_argument("--kill-grace-seconds", type=float, default=10.0,
                        help="after SIGTERM, how long an export process has before SIGKILL")
    parser.add_argument("--claim-wait", type=float, default=20.0, help="long-poll seconds per claim (0-30)")
    parser.add_argument("--allow-local-drafts", action="store_true",
                        help="let exporters read file:// drafts and private addresses")


def run(args: argparse.Namespace) -> int:
    from capcut_mate.agent.exporters import ExporterOptions, load_exporter
    from capcut_mate.agent.runtime import AgentOptions, AgentRuntime
    from capcut_mate.agent.service_client import ServiceClient

    if not args.token:
        raise SystemExit(f"capcut-mate agent: give --token, or set {TOKEN_ENV}")
    if args.concurrency < 1:
        raise SystemExit("capcut-mate agent: --concurrency must be at least 1")
    try:
        exporter = load_exporter(
            args.exporter,
            ExporterOptions(command=args.command, kill_grace_seconds=args.kill_grace_seconds,
                            allow_local_drafts=args.allow_local_drafts),
        )
    except (ValueError, ImportError, AttributeError) as error:
        raise SystemExit(f"capcut-mate agent: {error}") from None
    options = AgentOptions(
        tags=tuple(args.tags),
        concurrency=args.concurrency,
        claim_wait_seconds=min(max(args.claim_wait, 0.0), 30.0),
        drain_seconds=args.drain_seconds,
        work_root=args.work_dir or Path(tempfile.gettempdir()) / f"capcut-mate-agent-{os.getpid()}",
    )

    async def main() -> int:
        client = ServiceClient(args.server, args.token)
        runtime = AgentRuntime(client, exporter, options)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runtime.drain)
        try:
            return await runtime.run()
        finally:
            await client.close()

    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    return asyncio.run(main())
