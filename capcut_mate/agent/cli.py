"""`capcut-mate agent`: run an export agent against a service."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path

TOKEN_ENV = "CAPCUT_MATE_AGENT_TOKEN"

log = logging.getLogger("capcut_mate.agent")


def _server_list(raw: str) -> list[str]:
    servers = [url.strip().rstrip("/") for url in raw.split(",") if url.strip()]
    if not servers or not all(url.startswith(("http://", "https://")) for url in servers):
        raise argparse.ArgumentTypeError("give http(s) URLs, comma-separated")
    return servers


def add_arguments(parser: argparse.ArgumentParser, *, tag_list) -> None:
    parser.add_argument("--server", required=True, type=_server_list,
                        help="the service's base URL, e.g. http://jobs.internal:8000; several, comma-separated, "
                             "for several service processes: the agent moves to the next when one is unreachable")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=f"the agent's token (default: ${TOKEN_ENV}; the variable keeps it out of `ps`)")
    parser.add_argument("--tags", type=tag_list, default=[], help="comma-separated tags this agent holds")
    parser.add_argument("--concurrency", type=int, default=1, help="jobs to run at once (default 1)")
    parser.add_argument("--exporter", default="command",
                        help="command (default), ffmpeg, a plugin name, or module:function; see docs/exporters.md")
    parser.add_argument("--command", help="the command exporter's command; {draft_url} and {output} are substituted")
    parser.add_argument("--work-dir", type=Path, help="where jobs' working folders go (default: a temp folder)")
    parser.add_argument("--drain-seconds", type=float, default=60.0,
                        help="on SIGTERM, how long running jobs may finish before they are handed back")
    parser.add_argument("--kill-grace-seconds", type=float, default=10.0,
                        help="after SIGTERM, how long an export process has before SIGKILL")
    parser.add_argument("--claim-wait", type=float, default=20.0, help="long-poll seconds per claim (0-30)")
    parser.add_argument("--allow-local-drafts", action="store_true",
                        help="let exporters read file:// drafts and private addresses")
    parser.add_argument("--font-file", type=Path,
                        help="the ffmpeg exporter's font for text, ideally one with Chinese "
                             "(default: $CAPCUT_MATE_FONT_FILE, else one found on this machine)")
    parser.add_argument("--render-jobs", type=int, default=None, metavar="N",
                        help="the ffmpeg exporter's windows of one long render run at once "
                             "(default: by this machine's cores and memory)")
    parser.add_argument("--max-draft-mb", type=int, default=2048,
                        help="the ffmpeg exporter's limit on one draft's downloads, in MiB (default 2048)")
    # serve --local-agents passes its pid: an agent whose service was killed stops too.
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)


async def stop_when_orphaned(runtime, parent_pid: int) -> None:
    """The local service that started this agent is gone (killed with SIGKILL): nothing can
    be handed back or delivered to it, so stop at once; the jobs' leases run out and the
    next service's reaper puts them back in the queue."""
    from capcut_mate.processes import wait_until_orphaned

    await wait_until_orphaned(parent_pid)
    log.warning("the service that started this agent is gone; stopping now")
    for _ in range(3):  # drain, hand back now, give up on deliveries
        runtime.drain()


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
                            allow_local_drafts=args.allow_local_drafts, server_urls=tuple(args.server),
                            font_file=args.font_file, max_draft_bytes=args.max_draft_mb * 1024**2,
                            render_jobs=args.render_jobs),
        )
    except (ValueError, TypeError, ImportError, AttributeError) as error:
        raise SystemExit(f"capcut-mate agent: {error}") from None
    options = AgentOptions(
        tags=tuple(args.tags),
        concurrency=args.concurrency,
        claim_wait_seconds=min(max(args.claim_wait, 0.0), 30.0),
        drain_seconds=args.drain_seconds,
        # Without --work-dir, a temporary folder of this agent's own, gone when it stops.
        work_root=args.work_dir or Path(tempfile.mkdtemp(prefix="capcut-mate-agent-")),
    )

    async def main() -> int:
        client = ServiceClient(args.server, args.token)
        runtime = AgentRuntime(client, exporter, options)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runtime.drain)
        orphan_watch = asyncio.create_task(stop_when_orphaned(runtime, args.parent_pid)) if args.parent_pid else None
        try:
            return await runtime.run()
        finally:
            if orphan_watch:
                orphan_watch.cancel()
            await client.close()

    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    try:
        return asyncio.run(main())
    finally:
        if args.work_dir is None:
            shutil.rmtree(options.work_root, ignore_errors=True)
