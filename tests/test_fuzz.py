"""Schemathesis against /openapi.json, every route: no 5xx, and every answer is one the
document promises (status, content type, body schema). Agent and operations routes get
real tokens, so the fuzzing reaches past authentication.

`test_schemathesis_with_every_check_finds_nothing` runs the schemathesis command itself
with `--checks all` (schema-valid requests accepted, schema-invalid ones refused, and the
rest) over every route, holding the agent token and then the operator token, each with two
seeds. The service has jobs in every state: one processing, one completed, and a queue, so
that claims answer at once and the job routes reach past 404 to the jobs' leases."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from capcut_mate.database.store import Store
from capcut_mate.server.app import ENDPOINTS
from capcut_mate.server.openapi import build_document
from support import schemathesis_checks
from support.agents import register_agent, register_operator, store_agent
from support.postgres import throwaway_database
from support.processes import ServiceProcess, command_env

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Pending jobs at the start: every claim of the run (a few hundred, up to 32 jobs each) finds
# work at once instead of long-polling, and leaves jobs processing for the other job routes.
QUEUED_JOBS = 2000


@pytest.fixture(scope="module")
def fuzzed_service(postgres_url, tmp_path_factory):
    """A service of its own, on a database of its own, with an agent and an operator."""
    with throwaway_database(postgres_url, prefix="capcut_mate_fuzz") as dsn:
        folder = tmp_path_factory.mktemp("fuzz")
        env = command_env(database_url=dsn, data_dir=str(folder / "data"), client_rate_limit="0",
                          log_level="WARNING")
        service = ServiceProcess(env, folder / "service.log").wait_ready()

        async def tokens():
            store = await Store.open(dsn, pool_size=1)
            try:
                tokens = await register_agent(store, "fuzzer"), await register_operator(store, "fuzzer")
                await jobs_in_every_state(store, await store_agent(store, "fuzzer"))
                return tokens
            finally:
                await store.close()

        agent, operator = asyncio.run(tokens())
        try:
            yield service, {"agent": agent, "operations": operator}
        finally:
            service.stop()


async def jobs_in_every_state(store: Store, agent) -> None:
    """Job 1 processing at 50 (a lower progress is a PROGRESS_REGRESSION), job 2 completed,
    then the queue."""
    for name in ("running", "done"):
        await store.submit(f"https://drafts.example.com/get_draft?draft_id={name}")
    running, done = await store.claim(agent, [], max_jobs=2, lease_seconds=3600)
    await store.report_progress(running.id, 1, agent, progress=50, stage=None, message=None, lease_seconds=3600)
    await store.complete(done.id, 1, agent, video_url="https://videos.example.com/done.mp4")
    await store.pool.execute(
        "INSERT INTO capcut_mate.video_jobs (draft_url, draft_key)"
        " SELECT 'https://drafts.example.com/get_draft?draft_id=queued-' || n, 'queued-' || n"
        " FROM generate_series(1, $1) AS n", QUEUED_JOBS)


# The document the service serves is built from these tables at start; build it here too,
# so each operation is a test of its own.
SCHEMA = schemathesis.openapi.from_dict(build_document(ENDPOINTS))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def test_the_served_document_is_the_one_fuzzed(fuzzed_service):
    service, _ = fuzzed_service
    assert requests.get(f"{service.url}/openapi.json", timeout=10).json() == build_document(ENDPOINTS)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_every_route_answers_as_documented(operation, fuzzed_service):
    service, tokens = fuzzed_service
    tag = operation.tags[0] if operation.tags else ""
    headers = {"Authorization": f"Bearer {tokens[tag]}"} if tag in tokens else {}

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def answers_as_documented(case):
        if case.path.endswith("/claim") and isinstance(case.body, dict):
            case.body["wait"] = 0  # a long-poll of up to 30 s per example would only cost time
        case.call_and_validate(base_url=service.url, headers=headers, checks=CHECKS, timeout=30)

    answers_as_documented()


@pytest.mark.parametrize("seed", [14, 15])
@pytest.mark.parametrize("holder", ["agent", "operations"])
def test_schemathesis_with_every_check_finds_nothing(fuzzed_service, holder, seed, tmp_path):
    service, tokens = fuzzed_service
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{service.url}/openapi.json",
        "--checks", "all", "--exclude-checks", schemathesis_checks.REPLACED,  # run as their versions of it
        "--header", f"Authorization: Bearer {tokens[holder]}",
        "--max-examples", "30", "--seed", str(seed), "--request-timeout", "40",
        "--max-response-time", "35",  # a claim may long-poll for up to 30 s, as documented
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": schemathesis_checks.__file__}
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
