"""Property-based: random sequences of submit, claim, progress, complete, fail, cancel and
lease expiry, run against the real store and against a small model of CONTRACT.md's state
machine; after every step the two agree, and the invariant checker finds nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from capcut_mate.database.store import Store
from capcut_mate.protocol.errors import ServiceError
from capcut_mate.protocol.jobs import AGENT_LOST_MESSAGE, CANCELLED_MESSAGE
from support.agents import store_agent

DRAFTS = [f"https://drafts.example.com/get_draft?draft_id=model-{n}" for n in range(3)]
AGENTS = ["agent-a", "agent-b"]
VIDEO = "https://videos.example.com/model.mp4"
MAX_ATTEMPTS = 3


@dataclass
class ModelJob:
    id: int
    draft: str
    status: str = "pending"
    attempt: int = 0
    progress: int = 0
    agent: str | None = None
    cancel_requested: bool = False
    claimable: bool = True  # a retried job waits out a backoff longer than the test
    error: str | None = None
    ending: tuple | None = None  # how the last attempt ended: (call, attempt, agent, argument)


class StoreMachine(RuleBasedStateMachine):
    def __init__(self, database_url: str):
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store = self.run(Store.open(database_url, pool_size=2))
        tables = "video_jobs, job_events, agents"
        self.run(self.store.pool.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # The store knows an agent by its token; the model, by name.
        self.tokens = {name: self.run(store_agent(self.store, name)) for name in (*AGENTS, "stranger")}
        self.jobs: dict[int, ModelJob] = {}
        self.submitted: list[str] = []

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def teardown(self):
        self.run(self.store.close())
        self.loop.close()

    def attempt(self, call):
        """The store's answer, or the error code it raised."""
        try:
            return self.run(call), None
        except ServiceError as error:
            return None, error.kind.error_code

    def active_for(self, draft: str) -> ModelJob | None:
        return next((j for j in self.jobs.values() if j.draft == draft and j.status in ("pending", "processing")), None)

    def fail_model(self, job: ModelJob, error: str) -> None:
        job.status, job.progress, job.error = "failed", 0, error

    # --- client calls ----------------------------------------------------------------

    @rule(draft=st.sampled_from(DRAFTS))
    def submit(self, draft):
        active = self.active_for(draft)
        job, created = self.run(self.store.submit(draft, max_attempts=MAX_ATTEMPTS))
        self.submitted.append(draft)
        if active:
            assert (job.id, created) == (active.id, False)
        else:
            assert created and job.id not in self.jobs
            self.jobs[job.id] = ModelJob(job.id, draft)

    @rule(draft=st.sampled_from(DRAFTS))
    def cancel(self, draft):
        active = self.active_for(draft)
        _, error = self.attempt(self.store.cancel(draft))
        if active is None:
            known = any(j.draft == draft for j in self.jobs.values())
            assert error == ("VIDEO_TASK_NOT_CANCELLABLE" if known else "VIDEO_TASK_NOT_FOUND")
        else:
            assert error is None
            active.cancel_requested = True
            if active.status == "pending":
                self.fail_model(active, CANCELLED_MESSAGE)

    # --- agent calls --------------------------------------------------------------------

    @rule(agent=st.sampled_from(AGENTS))
    def claim(self, agent):
        claimable = sorted(j.id for j in self.jobs.values() if j.status == "pending" and j.claimable)
        claimed = self.run(self.store.claim(self.tokens[agent], [], max_jobs=1, lease_seconds=60))
        if not claimable:
            assert claimed == []
            return
        (got,) = claimed
        job = self.jobs[claimable[0]]
        assert (got.id, got.attempt) == (job.id, job.attempt + 1)
        job.status, job.attempt, job.progress, job.agent, job.ending = "processing", got.attempt, 10, agent, None

    def processing(self) -> list[ModelJob]:
        return [j for j in self.jobs.values() if j.status == "processing"]

    @precondition(lambda self: self.jobs)
    @rule(data=st.data(), value=st.integers(10, 90))
    def progress(self, data, value):
        job = data.draw(st.sampled_from(sorted(self.jobs.values(), key=lambda j: j.id)))
        agent = self.tokens[job.agent or AGENTS[0]]
        ack, error = self.attempt(self.store.report_progress(
            job.id, max(job.attempt, 1), agent, progress=value, stage=None, message=None, lease_seconds=60))
        if job.status != "processing":
            assert error == "LEASE_LOST"
        elif value < job.progress:
            assert error == "PROGRESS_REGRESSION"
        else:
            assert error is None and ack.cancel == job.cancel_requested
            job.progress = value

    @precondition(lambda self: self.jobs)
    @rule(data=st.data())
    def complete(self, data):
        job = data.draw(st.sampled_from(sorted(self.jobs.values(), key=lambda j: j.id)))
        agent = job.agent or AGENTS[0]
        call = ("complete", max(job.attempt, 1), agent, VIDEO)
        outcome, error = self.attempt(self.store.complete(job.id, max(job.attempt, 1), self.tokens[agent],
                                                              video_url=VIDEO))
        if job.status == "processing":
            assert error is None and not outcome.repeat
            if job.cancel_requested:
                self.fail_model(job, CANCELLED_MESSAGE)
            else:
                job.status, job.progress = "completed", 100
            job.ending = call
        elif job.ending == call:
            assert error is None and outcome.repeat  # the exact repeat is answered again
        else:
            assert error == "LEASE_LOST"

    @precondition(lambda self: self.jobs)
    @rule(data=st.data(), retryable=st.booleans())
    def fail(self, data, retryable):
        job = data.draw(st.sampled_from(sorted(self.jobs.values(), key=lambda j: j.id)))
        message, agent = "导出草稿失败: model", job.agent or AGENTS[0]
        call = ("fail", max(job.attempt, 1), agent, message)  # a repeat matches these, whatever `retryable`
        outcome, error = self.attempt(self.store.fail(job.id, max(job.attempt, 1), self.tokens[agent],
                                                      error_message=message, retryable=retryable))
        if job.status == "processing":
            assert error is None
            if retryable and not job.cancel_requested and job.attempt < MAX_ATTEMPTS:
                job.status, job.progress, job.agent, job.claimable = "pending", 0, None, False
                assert outcome.status == "pending"
            else:
                self.fail_model(job, CANCELLED_MESSAGE if job.cancel_requested else message)
                assert outcome.status == "failed"
            job.ending = call
        elif job.ending == call:
            assert error is None  # the exact repeat is answered again
        else:
            assert error == "LEASE_LOST"

    @precondition(lambda self: any(j.status == "processing" for j in self.jobs.values()))
    @rule(data=st.data())
    def lease_runs_out(self, data):
        job = data.draw(st.sampled_from(sorted(self.processing(), key=lambda j: j.id)))
        self.run(self.store.expire_lease_now(job.id, job.attempt, self.tokens[job.agent]))
        expired = self.run(self.store.expire_leases())
        assert [lease.job_id for lease in expired] == [job.id]
        if job.cancel_requested or job.attempt >= MAX_ATTEMPTS:
            self.fail_model(job, CANCELLED_MESSAGE if job.cancel_requested else AGENT_LOST_MESSAGE)
        else:
            job.status, job.progress, job.agent, job.claimable = "pending", 0, None, True
        job.ending = ("lease", job.attempt)

    @precondition(lambda self: any(j.status == "processing" for j in self.jobs.values()))
    @rule(data=st.data())
    def a_stranger_writes(self, data):
        job = data.draw(st.sampled_from(sorted(self.processing(), key=lambda j: j.id)))
        before = self.run(self.store.get_job(job.id))
        for attempt, agent in ((job.attempt + 1, job.agent), (job.attempt, "stranger")):
            _, error = self.attempt(self.store.report_progress(
                job.id, attempt, self.tokens[agent], progress=90, stage=None, message=None, lease_seconds=60))
            assert error == "LEASE_LOST"
            _, error = self.attempt(self.store.complete(job.id, attempt, self.tokens[agent], video_url=VIDEO))
            assert error == "LEASE_LOST"
        assert self.run(self.store.get_job(job.id)) == before

    # --- what must always hold -----------------------------------------------------------

    @invariant()
    def the_database_agrees_with_the_model(self):
        rows = {r["id"]: r for r in self.run(self.store.pool.fetch("SELECT * FROM video_jobs"))}
        assert rows.keys() == self.jobs.keys()
        for job in self.jobs.values():
            row = rows[job.id]
            assert (row["status"], row["attempt"], row["progress"], row["cancel_requested"]) == (
                job.status, job.attempt, job.progress, job.cancel_requested), (job, dict(row))
            assert row["error_message"] == (job.error if job.status == "failed" else None)
            if job.status == "processing":
                assert row["agent"] == job.agent

    @invariant()
    def no_promise_is_broken(self):
        assert self.run(self.store.invariant_violations(self.submitted)) == []


def test_the_store_follows_the_contracts_state_machine(database_url):
    run_state_machine_as_test(
        lambda: StoreMachine(database_url),
        settings=settings(max_examples=40, stateful_step_count=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
