"""The reporting views, retention, and `capcut-mate report`.

The views are checked row by row against the same figures computed here, in Python,
straight from video_jobs and job_events: two independent readings of one history.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import asyncpg

from capcut_mate.database.store import Store
from capcut_mate.protocol.jobs import STAGES
from capcut_mate.reporting import SECTIONS
from support.agents import register_agent, store_agent
from support.history import expected_stage_durations, expected_stage_endings, recorded_stage_endings
from support.postgres import throwaway_database
from support.processes import command_env, run_command

LEASE_LOST_NOTE = "租约到期，代理未按时汇报"
MISSING = "导出草稿失败: 素材缺失"


def draft(name: str) -> str:
    return f"https://drafts.example.com/get_draft?draft_id={name}"


async def run_stages(store: Store, job_id: int, attempt: int, agent: str, upto: int = 90) -> None:
    holder = await store_agent(store, agent)
    for progress in (p for p in STAGES if p <= upto):
        await store.report_progress(job_id, attempt, holder, progress=progress, stage=None, message=None,
                                    lease_seconds=30)
        await asyncio.sleep(0.01)


async def claim_for(store: Store, agent: str, tag: str, lease_seconds: int = 30):
    (claimed,) = await store.claim(await store_agent(store, agent), [tag], max_jobs=1, lease_seconds=lease_seconds)
    return claimed


async def build_history(store: Store) -> None:
    """Jobs across stages, retries, failures and two agents (plus one that never worked)."""
    for name in ("render-1", "render-2", "never-worked"):
        await register_agent(store, name)
    render_1, render_2 = await store_agent(store, "render-1"), await store_agent(store, "render-2")

    # A: done by render-1 at the first try.
    a, _ = await store.submit(draft("a"), requirements=["a"])
    claimed = await claim_for(store, "render-1", "a")
    await run_stages(store, a.id, claimed.attempt, "render-1")
    await store.complete(a.id, claimed.attempt, render_1, video_url="https://v.example.com/a.mp4")

    # B: render-1 loses its lease; render-2 finishes it.
    b, _ = await store.submit(draft("b"), requirements=["b"])
    await claim_for(store, "render-1", "b", lease_seconds=1)
    await store.report_progress(b.id, 1, render_1, progress=30, stage=None, message="slow", lease_seconds=1)
    await asyncio.sleep(1.1)
    assert [lease.job_id for lease in await store.expire_leases()] == [b.id]
    claimed = await claim_for(store, "render-2", "b")
    await run_stages(store, b.id, claimed.attempt, "render-2")
    await store.complete(b.id, claimed.attempt, render_2, video_url="https://v.example.com/b.mp4")

    # C and H: the same failure for good, on render-2 and on render-1.
    for name, agent in (("c", "render-2"), ("h", "render-1")):
        job, _ = await store.submit(draft(name), requirements=[name])
        claimed = await claim_for(store, agent, name)
        await run_stages(store, job.id, claimed.attempt, agent, upto=50)
        await store.fail(job.id, claimed.attempt, await store_agent(store, agent), error_message=MISSING,
                         retryable=False)

    # D: a retryable failure on render-1, back in the queue for its backoff.
    d, _ = await store.submit(draft("d"), requirements=["d"])
    claimed = await claim_for(store, "render-1", "d")
    await store.fail(d.id, claimed.attempt, render_1, error_message="network blip", retryable=True)

    # E pending; F processing at 50 on render-1; G cancelled while pending.
    await store.submit(draft("e"), requirements=["e"])
    f, _ = await store.submit(draft("f"), requirements=["f"])
    claimed = await claim_for(store, "render-1", "f")
    await run_stages(store, f.id, claimed.attempt, "render-1", upto=50)
    await store.submit(draft("g"), requirements=["g"])
    await store.cancel(draft("g"))


async def build_wandering_job(store: Store) -> int:
    """A job whose agent (render-1, registered) names its own stages and goes back to one,
    is asked to cancel while it runs, and changes stage twice in one transaction; it fails
    at the end, the cancel winning over its completion."""
    job, _ = await store.submit(draft("wander"), requirements=["wander"])
    claimed = await claim_for(store, "render-1", "wander")
    render_1 = await store_agent(store, "render-1")
    for progress, stage in ((20, "渲染"), (30, "合成"), (40, "渲染")):
        await store.report_progress(job.id, claimed.attempt, render_1, progress=progress, stage=stage,
                                    message=None, lease_seconds=30)
        await asyncio.sleep(0.01)
    await store.cancel(draft("wander"))
    async with store.pool.acquire() as connection, connection.transaction():
        for progress, stage in ((50, "打包"), (60, "上传")):
            await connection.execute(
                "UPDATE capcut_mate.video_jobs SET progress = $2, stage = $3 WHERE id = $1", job.id, progress, stage)
    await asyncio.sleep(0.01)
    await store.complete(job.id, claimed.attempt, render_1, video_url="https://v.example.com/w.mp4")
    return job.id


async def read_history(store: Store) -> tuple[list[dict], dict[int, list[dict]], list[dict]]:
    jobs = [dict(r) for r in await store.pool.fetch("SELECT * FROM video_jobs ORDER BY id")]
    events: dict[int, list[dict]] = defaultdict(list)
    for row in await store.pool.fetch("SELECT * FROM job_events ORDER BY id"):
        events[row["job_id"]].append(dict(row))
    agents = [dict(r) for r in await store.pool.fetch("SELECT name, last_seen_at FROM agents")]
    return jobs, events, agents


def claims_of(events: list[dict]) -> list[dict]:
    return [e for e in events if (e["from_status"], e["to_status"]) == ("pending", "processing")]


def expected_job_history(jobs, events) -> set[tuple]:
    rows = set()
    for job in jobs:
        claims = claims_of(events[job["id"]])
        first = claims[0]["at"] if claims else None
        last = claims[-1]["at"] if claims else None
        done = job["completed_at"]
        rows.add((
            job["id"], job["draft_url"], job["draft_key"], job["status"], job["attempt"],
            tuple(c["agent"] for c in claims), job["created_at"], first, done,
            first - job["created_at"] if first else None,
            done - last if done and last else None,
            done - job["created_at"] if done else None,
            job["error_message"],
        ))
    return rows


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def expected_throughput(jobs) -> set[tuple]:
    counts: dict[datetime, list[int]] = defaultdict(lambda: [0, 0, 0])
    for job in jobs:
        counts[hour_of(job["created_at"])][0] += 1
        if job["status"] in ("completed", "failed"):
            counts[hour_of(job["completed_at"])][1 if job["status"] == "completed" else 2] += 1
    return {(hour, *numbers) for hour, numbers in counts.items()}


def expected_agent_stats(events, agents) -> dict[str, tuple]:
    tally: dict[str, dict] = defaultdict(lambda: {"done": 0, "failed": 0, "lost": 0, "times": []})
    for timeline in events.values():
        claims = {c["attempt"]: c for c in claims_of(timeline)}
        for event in timeline:
            if event["from_status"] != "processing" or event["to_status"] == "processing" or not event["agent"]:
                continue
            mine = tally[event["agent"]]
            if event["message"] == LEASE_LOST_NOTE:
                mine["lost"] += 1
            elif event["to_status"] == "completed":
                mine["done"] += 1
                mine["times"].append(event["at"] - claims[event["attempt"]]["at"])
            else:  # a failure it reported, final or retried
                mine["failed"] += 1
    seen = {a["name"]: a["last_seen_at"] for a in agents}
    return {
        name: (t["done"], t["failed"], t["lost"],
               sum(t["times"], timedelta()) / len(t["times"]) if t["times"] else None, seen.get(name))
        for name in set(tally) | set(seen)
        for t in [tally[name]]
    }


def expected_failures(jobs) -> set[tuple]:
    groups: dict[str, list[datetime]] = defaultdict(list)
    for job in jobs:
        if job["status"] == "failed":
            groups[job["error_message"]].append(job["completed_at"])
    return {(message, len(times), max(times)) for message, times in groups.items()}


async def test_every_view_matches_the_history_it_reads(store: Store):
    await build_history(store)
    jobs, events, agents = await read_history(store)

    history = {tuple(tuple(v) if isinstance(v, list) else v for v in r)
               for r in await store.pool.fetch("SELECT * FROM job_history")}
    assert history == expected_job_history(jobs, events)
    assert len(history) == 8

    stages = {tuple(r) for r in await store.pool.fetch("SELECT * FROM stage_durations")}
    assert stages == expected_stage_durations(events)
    # What the view reads: the event that ends a stage names it (the history trigger).
    assert recorded_stage_endings(events) == expected_stage_endings(events)
    assert sum(ending[0] is not None for ending in recorded_stage_endings(events).values()) == 26

    throughput = {tuple(r) for r in await store.pool.fetch("SELECT * FROM throughput_hourly")}
    assert throughput == expected_throughput(jobs)

    stats = {r["agent"]: tuple(r)[1:] for r in await store.pool.fetch("SELECT * FROM agent_stats")}
    expected = expected_agent_stats(events, agents)
    assert stats.keys() == expected.keys() == {"render-1", "render-2", "never-worked"}
    for name, (done, failed, lost, mean, seen) in expected.items():
        got = stats[name]
        assert got[:3] == (done, failed, lost) and got[4] == seen, name
        assert (got[3] is None) == (mean is None) and (mean is None or abs(got[3] - mean) <= timedelta(microseconds=1))
    assert stats["render-1"][:3] == (1, 2, 1) and stats["render-2"][:3] == (1, 1, 0)

    failures = {tuple(r) for r in await store.pool.fetch("SELECT * FROM failure_reasons")}
    assert failures == expected_failures(jobs)
    assert {(message, count) for message, count, _ in failures} == {(MISSING, 2), ("任务已取消", 1)}


async def test_stage_visits_follow_the_event_order(store: Store):
    await register_agent(store, "render-1")
    wandering = await build_wandering_job(store)
    _, events, _ = await read_history(store)

    assert recorded_stage_endings(events) == expected_stage_endings(events)
    stages = {tuple(r) for r in await store.pool.fetch("SELECT * FROM stage_durations")}
    assert stages == expected_stage_durations(events)
    visits = [(r["stage"], r["duration"]) for r in await store.pool.fetch(
        "SELECT stage, duration FROM stage_durations WHERE job_id = $1 ORDER BY entered_at, left_at", wandering)]
    assert [stage for stage, _ in visits] == ["开始处理", "渲染", "合成", "渲染", "打包", "上传"]
    # 打包 began and ended in one transaction: a visit of no time, still a visit.
    assert visits[4][1] == timedelta(0)
    assert all(duration is not None for _, duration in visits)


async def test_the_since_functions_keep_to_their_window(store: Store):
    await build_history(store)
    later = await store.pool.fetchval("SELECT now()")
    await asyncio.sleep(0.05)
    fresh, _ = await store.submit(draft("late"))
    ids = [r["job_id"] for r in await store.pool.fetch("SELECT job_id FROM job_history_since($1)", later)]
    assert ids == [fresh.id]
    assert await store.pool.fetchval("SELECT count(*) FROM failure_reasons_since($1)", later) == 0
    assert await store.pool.fetchval("SELECT count(*) FROM stage_durations_since($1)", later) == 0


async def test_report_figures_summarise_the_same_history(store: Store):
    await build_history(store)
    since = datetime.now(UTC) - timedelta(hours=1)
    figures = await store.report(since)
    by_status = {row["status"]: row["jobs"] for row in figures["jobs"]}
    assert by_status == {"completed": 2, "failed": 3, "pending": 2, "processing": 1}
    assert sum(row["submitted"] for row in figures["throughput"]) == 8
    stages = {row["threshold"]: row["samples"] for row in figures["stages"]}
    # Finished stages: A and B's render-2 attempt all six; C and H up to 50 (four each,
    # the last ended by the failure); B's render-1 attempt 10 and 30; F only 10-30 so far.
    assert stages == {10: 7, 20: 5, 30: 6, 50: 4, 70: 2, 90: 2}
    assert [(row["error_message"], row["jobs"]) for row in figures["failures"]][0] == (MISSING, 2)


# --- retention -------------------------------------------------------------------------


async def finished_job(store: Store, name: str) -> int:
    job, _ = await store.submit(draft(name), requirements=[name])
    claimed = await claim_for(store, "retiree", name)
    retiree = await store_agent(store, "retiree")
    await store.complete(job.id, claimed.attempt, retiree, video_url="https://v.example.com/x.mp4")
    return job.id


async def test_prune_removes_exactly_what_is_old_and_finished(store: Store):
    old = [await finished_job(store, f"old-{n}") for n in range(3)]
    old_pending, _ = await store.submit(draft("old-pending"))
    old_running, _ = await store.submit(draft("old-running"), requirements=["run"])
    await claim_for(store, "retiree", "run")
    await asyncio.sleep(0.05)
    cutoff = await store.pool.fetchval("SELECT now()")
    await asyncio.sleep(0.05)
    recent = await finished_job(store, "recent")

    result = await store.prune(cutoff, batch=2)  # batches smaller than the work

    assert result.jobs_deleted == 3
    left = {r["id"] for r in await store.pool.fetch("SELECT id FROM video_jobs")}
    assert left == {old_pending.id, old_running.id, recent}
    assert await store.pool.fetchval("SELECT count(*) FROM job_events WHERE job_id = ANY($1)", old) == 0
    assert await store.pool.fetchval(
        "SELECT count(*) FROM job_events WHERE job_id = ANY($1)", [old_pending.id, old_running.id, recent]
    ) >= 5


async def partitions(store: Store) -> set[str]:
    rows = await store.pool.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'capcut_mate.job_events'::regclass"
    )
    return {r["relname"] for r in rows}


async def test_a_month_of_old_history_goes_with_one_drop(store: Store):
    ids = [await finished_job(store, f"month-{n}") for n in range(3)]
    this_month = await store.pool.fetchval("SELECT 'job_events_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM')")
    assert this_month in await partitions(store)
    next_month = await store.pool.fetchval("SELECT date_trunc('month', now(), 'UTC') + interval '1 month'")

    result = await store.prune(next_month)

    assert result.partitions_dropped == [f"capcut_mate.{this_month}"]
    assert result.jobs_deleted == 3
    assert await store.pool.fetchval("SELECT count(*) FROM video_jobs WHERE id = ANY($1)", ids) == 0
    # The month's partition is made again for new events, and they land in it.
    assert this_month in await partitions(store)
    job, _ = await store.submit(draft("after"))
    assert await store.pool.fetchval(f"SELECT count(*) FROM capcut_mate.{this_month} WHERE job_id = $1", job.id) == 1


async def test_a_month_holding_a_kept_jobs_history_is_not_dropped(store: Store):
    await finished_job(store, "gone")
    active, _ = await store.submit(draft("still-active"))
    next_month = await store.pool.fetchval("SELECT date_trunc('month', now(), 'UTC') + interval '1 month'")
    result = await store.prune(next_month)
    assert result.partitions_dropped == [] and result.jobs_deleted == 1
    assert await store.pool.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", active.id) == 1


# --- the command -------------------------------------------------------------------------


async def test_report_command_prints_the_figures(store: Store, database_url: str, tmp_path):
    await build_history(store)
    env = command_env(database_url=database_url, log_level="WARNING")
    as_json = await asyncio.to_thread(run_command, "report", "--since", "1h", "--format", "json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert {row["status"]: row["jobs"] for row in report["jobs"]} == {
        "completed": 2, "failed": 3, "pending": 2, "processing": 1
    }
    assert {row["agent"] for row in report["agents"]} == {"render-1", "render-2", "never-worked"}
    table = await asyncio.to_thread(run_command, "report", env=env)
    assert table.returncode == 0
    for title in ("Per hour (UTC)", "Time in each stage", "Agents", "Failure reasons", MISSING, "素材处理"):
        assert title in table.stdout
    for section, (model, _title) in SECTIONS.items():
        as_csv = await asyncio.to_thread(run_command, "report", "--format", "csv", "--section", section, env=env)
        assert as_csv.returncode == 0, as_csv.stderr
        header, *rows = list(csv.reader(io.StringIO(as_csv.stdout)))  # one loadable table
        assert header == list(model.model_fields)
        assert len(rows) == len(report[section]) and all(len(row) == len(header) for row in rows)
    every = await asyncio.to_thread(run_command, "report", "--format", "csv", env=env)
    assert every.returncode == 2 and "--section" in every.stderr and len(every.stderr.splitlines()) == 1
    failures_only = await asyncio.to_thread(run_command, "report", "--format", "json", "--section", "failures",
                                            env=env)
    assert set(json.loads(failures_only.stdout)) == {"since", "failures"}
    bad = await asyncio.to_thread(run_command, "report", "--since", "yesterday", env=env)
    assert bad.returncode == 2 and "not a duration" in bad.stderr


async def test_prune_command(store: Store, database_url: str):
    await finished_job(store, "to-prune")
    env = command_env(database_url=database_url, log_level="WARNING")
    # Nothing is that old yet.
    result = await asyncio.to_thread(run_command, "prune", "--older-than", "1d", env=env)
    assert result.returncode == 0 and "removed 0 finished job(s)" in result.stdout
    assert await store.pool.fetchval("SELECT count(*) FROM video_jobs") == 1


async def test_event_partitions_are_utc_months_whatever_the_sessions_time_zone(store, database_url):
    new_york = await asyncpg.connect(database_url, server_settings={"timezone": "America/New_York"})
    try:
        await new_york.fetchval("SELECT capcut_mate.ensure_job_event_partitions('2031-03-15', '2031-05-15')")
        bounds = {
            r["relname"]: r["bounds"]
            for r in await store.pool.fetch(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bounds FROM pg_class c"
                " WHERE c.relname LIKE 'job_events_2031_%' AND c.relkind = 'r'"
            )
        }
    finally:
        await new_york.execute("DROP TABLE IF EXISTS capcut_mate.job_events_2031_03, capcut_mate.job_events_2031_04,"
                               " capcut_mate.job_events_2031_05")
        await new_york.close()
    assert bounds["job_events_2031_04"] == "FOR VALUES FROM ('2031-04-01 00:00:00+00') TO ('2031-05-01 00:00:00+00')"
    assert set(bounds) == {"job_events_2031_03", "job_events_2031_04", "job_events_2031_05"}


async def test_two_processes_making_the_same_partitions_at_once_both_succeed(store):
    async def make():
        async with store.pool.acquire() as connection, connection.transaction():
            made = await connection.fetchval("SELECT ensure_job_event_partitions('2032-01-15', '2032-02-15')")
            await asyncio.sleep(0.3)  # hold the transaction open while the other one tries
            return made

    try:
        assert sorted(await asyncio.gather(make(), make())) == [0, 2]
    finally:
        await store.pool.execute("DROP TABLE IF EXISTS job_events_2032_01, job_events_2032_02")


def test_upgrading_fills_in_the_stage_endings_of_history_already_written(postgres_url):
    """Revision 0006 records stage endings on the events; the history written before it
    gets them from the event order, and the views read the same as before the upgrade
    (but for a stage visited twice, now a row per visit)."""
    from alembic import command

    from capcut_mate.database.migrations import alembic_config

    async def on_store(dsn: str, work):
        store = await Store.open(dsn, pool_size=4)
        try:
            return await work(store)
        finally:
            await store.close()

    async def write_history(store: Store):
        # Today's store fences attempts on the column of 0008: it is there while the history
        # is written, and goes before the upgrade, which adds it again and fills it in.
        await store.pool.execute("ALTER TABLE video_jobs ADD COLUMN agent_token_id text")
        await build_history(store)
        await build_wandering_job(store)
        await store.pool.execute("ALTER TABLE video_jobs DROP COLUMN agent_token_id")
        return await stage_rows(store)

    async def stage_rows(store: Store):
        return {tuple(r) for r in await store.pool.fetch("SELECT * FROM stage_durations")}

    async def read_back(store: Store):
        stages = {tuple(r) for r in await store.pool.fetch("SELECT * FROM stage_durations")}
        render_1 = await store.pool.fetchval("SELECT token_id FROM agents WHERE name = 'render-1'")
        return stages, *(await read_history(store))[:2], render_1

    with throwaway_database(postgres_url) as dsn:
        command.upgrade(alembic_config(dsn), "0005")
        before = asyncio.run(on_store(dsn, write_history))
        command.upgrade(alembic_config(dsn), "head")
        after, jobs, events, render_1 = asyncio.run(on_store(dsn, read_back))
    assert after == expected_stage_durations(events)
    assert recorded_stage_endings(events) == expected_stage_endings(events)
    # Only the wandering job's return to 渲染 reads differently: 0005 summed the visits.
    assert {row for row in after if row[3] != "渲染"} == {row for row in before if row[3] != "渲染"}
    assert len([row for row in after if row[3] == "渲染"]) == 2
    assert len([row for row in before if row[3] == "渲染"]) == 1
    # The job still running carries its stage's first progress, for when it leaves it.
    (running,) = [job for job in jobs if job["status"] == "processing"]
    assert running["stage_start_progress"] == 50
    # And the token that runs it (0008), so that its agent's writes still count.
    assert running["agent_token_id"] == render_1
