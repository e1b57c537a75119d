"""Whole jobs over HTTP: submit, claim, six progress reports, complete; 32 agents at once.

Each of the 32 agents (a Python child process speaking the agent protocol, no exporter)
submits a draft as a client, claims a job, reports each of the six stages and completes
it, again and again. Reference: pgbench running the same statements, taken from
queries.sql with pgbench variables in place of the store's parameters, in a custom script
with the same 32 clients.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path

from benchmarks import fixtures, harness, load
from benchmarks.harness import Row
from capcut_mate.database.store import QUERIES
from capcut_mate.protocol.jobs import CANCELLED_MESSAGE, COMPLETED_STAGE, PENDING_STAGE, STAGES, stage_for

AGENTS = 32
GOAL = 0.5
LEASE_SECONDS = "30.0::float8"
# The agent's token id, as the store's agent statements take it: pgbench client N is the
# agent whose token id is pgbench-N (pgbench_agents registers them).
AGENT_TOKEN_ID = "'pgbench-' || (:client_id)::text"


def run(quick: bool) -> list[Row]:
    seconds = 2 if quick else 30
    with harness.fresh_database() as dsn, harness.scratch_dir("lifecycle") as scratch:
        tokens = asyncio.run(harness.agent_tokens(dsn, AGENTS))
        asyncio.run(pgbench_agents(dsn))
        with harness.service(dsn, scratch) as service:
            with harness.CpuShares(*harness.process_tree(service.process.pid)) as cpu:
                measured = harness.run_child("benchmarks.lifecycle:agents", url=service.url, tokens=tokens,
                                             seconds=seconds)
        reference = harness.pgbench(dsn, "-M", "prepared", "-f", str(script_path(scratch)), clients=AGENTS,
                                    seconds=seconds, options="-c search_path=capcut_mate,public")
    return [
        Row(f"job lifecycle over HTTP (submit, claim, 6 progress, complete), {AGENTS} agents",
            measured["per_second"], "jobs/s", reference["tps"], "jobs/s (pgbench, same SQL)",
            goal=f"≥ {GOAL}× pgbench", met=measured["per_second"] >= GOAL * reference["tps"],
            note=f"Python aiohttp agents in a child process, {seconds} s after a 1 s warm-up; one job takes "
                 f"p50 {measured['p50_ms']:.0f} ms, p99 {measured['p99_ms']:.0f} ms; pgbench -M prepared, "
                 f"{AGENTS} clients, {reference['latency_ms']:.1f} ms per job; "
                 f"{cpu.summary(measured['per_second'], 'job')}"),
    ]


async def agents(url: str, tokens: list[str], seconds: float) -> dict:
    """Each agent: submit a new draft, claim, export (6 reports + complete); repeat."""
    drafts = itertools.count()
    async with load.http_session(2 * len(tokens)) as session:
        http_agents = [load.HttpAgent(session, url, token) for token in tokens]

        async def one_job(worker: int) -> int:
            await load.submit(session, url, fixtures.draft_url(f"lifecycle-{next(drafts)}"))
            # Another agent may take this draft's job first; then this one takes another's.
            jobs = await http_agents[worker].claim(wait=1)
            for job in jobs:
                await http_agents[worker].export(job)
            return len(jobs)

        await load.for_duration(1, len(tokens), one_job)  # warm-up: connections, caches, plans
        return await load.for_duration(seconds, len(tokens), one_job)


def pgbench_script() -> str:
    """One job per transaction of the script: the store's statements, bound to pgbench variables."""
    draft_key = "'pgbench-' || (:draft)::text"
    lines = [
        r"\set draft random(1, 9000000000000000000)",
        statement("submit_job", f"'{fixtures.DRAFT_BASE}' || {draft_key}", draft_key, "0", "'{}'::text[]", "3",
                  literal(PENDING_STAGE)) + ";",
        r"\set id 0",
        # \aset: no row (every pending job locked by other claims) leaves id at 0.
        statement("claim_jobs", AGENT_TOKEN_ID, "'{}'::text[]", "1", LEASE_SECONDS, literal(STAGES[10])) + r" \aset",
        r"\if :id > 0",
    ]
    for progress, stage in STAGES.items():
        lines.append(statement("report_progress", ":id", ":attempt", AGENT_TOKEN_ID, str(progress), literal(stage),
                               "NULL", LEASE_SECONDS, literal(stage_for(progress))) + ";")
    lines += [
        statement("complete_job", ":id", ":attempt", AGENT_TOKEN_ID, literal(load.VIDEO_URL), literal(COMPLETED_STAGE),
                  literal(CANCELLED_MESSAGE)) + ";",
        r"\endif",
    ]
    return "\n".join(lines) + "\n"


async def pgbench_agents(dsn: str) -> None:
    """An agent per pgbench client, its token id the one the script uses."""
    await harness.sql(dsn, "INSERT INTO capcut_mate.agents (name, token_id, token_hash)"
                           " SELECT 'pgbench-' || n, 'pgbench-' || n, sha256(('pgbench-' || n)::bytea)"
                           " FROM generate_series(0, $1 - 1) AS n", AGENTS)


def statement(name: str, *arguments: str) -> str:
    """queries.sql's statement `name`, its comment lines dropped, $n replaced by arguments[n-1]."""
    sql = "\n".join(line for line in QUERIES[name].splitlines() if not line.lstrip().startswith("--"))
    return re.sub(r"\$(\d+)", lambda match: f"({arguments[int(match.group(1)) - 1]})", sql)


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def script_path(folder: Path) -> Path:
    path = folder / "lifecycle.sql"
    path.write_text(pgbench_script(), encoding="utf-8")
    return path
