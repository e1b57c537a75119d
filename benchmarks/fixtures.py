"""Tables filled fast, with set-based SQL: pending jobs, and a finished history.

Pending jobs go in through the ordinary triggers: jobs are born pending, so each gets its
creation event and its wake-up NOTIFY, as a submit would. A finished history cannot be
born that way (a completed job must pass through processing, one UPDATE at a time), so
`fill_history` switches the user triggers of video_jobs and job_events off for the fill,
inserts rows that satisfy every CHECK constraint directly, and switches them on again:
acceptable for a fixture, and never done by the service.
"""

from __future__ import annotations

import asyncpg

from capcut_mate.protocol.jobs import COMPLETED_STAGE, PENDING_STAGE, STAGES

DRAFT_BASE = "https://capcut-mate.jcaigc.cn/openapi/capcut-mate/v1/get_draft?draft_id="
HISTORY_DAYS = 60
HISTORY_AGENTS = 32


def draft_url(key: str) -> str:
    return DRAFT_BASE + key


async def _connect(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, server_settings={"search_path": "capcut_mate, public"}, command_timeout=None)


async def fill_pending(dsn: str, count: int, prefix: str, *, requirements: tuple[str, ...] = ()) -> None:
    """`count` pending jobs, drafts `<prefix>-1` … `<prefix>-<count>`."""
    connection = await _connect(dsn)
    try:
        await connection.execute(
            """
            INSERT INTO video_jobs (draft_url, draft_key, stage, requirements)
            SELECT $1 || $2 || '-' || g, $2 || '-' || g, $3, $5::text[]
            FROM generate_series(1, $4::integer) AS g
            """,
            DRAFT_BASE, prefix, PENDING_STAGE, count, list(requirements),
        )
        await connection.execute("ANALYZE video_jobs")
    finally:
        await connection.close()


# One finished job: created, claimed, a progress event per stage (as many as fit in
# events_per_job), then completed (nine in ten) or failed. Times spread evenly over the
# last HISTORY_DAYS days; each job ran from half a minute to six minutes.
_FILL_JOBS = """
INSERT INTO video_jobs (draft_url, draft_key, status, progress, stage, video_url, error_message, attempt,
                        max_attempts, agent, created_at, started_at, completed_at, updated_at, stage_started_at,
                        run_after)
SELECT $1 || $2 || '-' || g, $2 || '-' || g,
       CASE WHEN failed THEN 'failed' ELSE 'completed' END::job_status,
       CASE WHEN failed THEN 0 ELSE 100 END,
       CASE WHEN failed THEN $4 ELSE $5 END,
       CASE WHEN failed THEN NULL ELSE 'https://videos.example.com/' || $2 || '-' || g || '.mp4' END,
       CASE WHEN failed THEN '导出草稿失败: 素材缺失' END,
       1, 3, 'agent-' || (g % $6),
       created, created + interval '2 seconds', created + run, created + run, created + run, created
FROM (
    SELECT g, g % 10 = 0 AS failed,
           -- In id order, as a real history is written: the rows of a time window sit
           -- together on disk, as the reports that read one expect.
           now() - interval '10 minutes' - make_interval(days => $7) * (1 - g / $3::float8) AS created,
           make_interval(secs => 30 + random() * 330) AS run
    FROM generate_series(1, $3::integer) AS g
) AS fresh
"""

_FILL_EVENTS = """
WITH shape AS (
    -- The same for every job: event k's stage (an index into the stage arrays, for the
    -- events in processing), and, on an event that ends a stage, the stage it ends and the
    -- event that began it, as the history trigger records them.
    SELECT k, stage_index,
           k >= 2 AND (k = $3 - 1 OR stage_index <> lag(stage_index) OVER by_k) AS ends_stage,
           lag(stage_index) OVER by_k AS ended_index,
           lag(stage_began) OVER by_k AS ended_began
    FROM (
        SELECT k, stage_index, min(k) OVER (PARTITION BY stage_index) AS stage_began
        FROM (
            SELECT k, CASE WHEN k BETWEEN 1 AND $3 - 2 THEN 1 + (k - 1) * 6 / ($3 - 2) END AS stage_index
            FROM generate_series(0, $3 - 1) AS k
        ) AS indexed
    ) AS began
    WINDOW by_k AS (ORDER BY k)
)
INSERT INTO job_events (job_id, at, from_status, to_status, progress, stage, attempt, agent, message,
                        left_stage, left_stage_progress, left_stage_entered_at)
SELECT j.id,
       j.created_at + (j.completed_at - j.created_at) * s.k / ($3 - 1),
       CASE WHEN s.k = 0 THEN NULL WHEN s.k = 1 THEN 'pending' ELSE 'processing' END::job_status,
       CASE WHEN s.k = 0 THEN 'pending' WHEN s.k < $3 - 1 THEN 'processing' ELSE j.status END::job_status,
       CASE WHEN s.k = 0 THEN 0 WHEN s.k = $3 - 1 THEN j.progress ELSE ($4::integer[])[s.stage_index] END,
       CASE WHEN s.k = 0 THEN $6 WHEN s.k = $3 - 1 THEN j.stage ELSE ($5::text[])[s.stage_index] END,
       CASE WHEN s.k = 0 THEN 0 ELSE 1 END,
       CASE WHEN s.k = 0 THEN NULL ELSE j.agent END,
       CASE WHEN s.k = $3 - 1 THEN coalesce(j.video_url, j.error_message) END,
       CASE WHEN s.ends_stage THEN ($5::text[])[s.ended_index] END,
       CASE WHEN s.ends_stage THEN ($4::integer[])[s.ended_index] END,
       CASE WHEN s.ends_stage THEN j.created_at + (j.completed_at - j.created_at) * s.ended_began / ($3 - 1) END
FROM video_jobs AS j
CROSS JOIN shape AS s
WHERE j.id BETWEEN $1 AND $2
ORDER BY j.id, s.k  -- in time order, as events are appended
"""


async def fill_history(dsn: str, jobs: int, events_per_job: int, prefix: str = "hist") -> None:
    """`jobs` finished jobs (drafts `<prefix>-1` …) with `events_per_job` events each (0, or
    at least 3: created, claimed, …, ended), spread over the last HISTORY_DAYS days; then
    VACUUM and ANALYZE, as after any bulk load."""
    if 0 < events_per_job < 3:
        raise ValueError("a finished job's history has at least 3 events")
    connection = await _connect(dsn)
    try:
        await connection.execute("SELECT setseed(0.42)")  # the same history every run
        # Monthly partitions first, so the events land in droppable months, not the default.
        await connection.execute(
            "SELECT ensure_job_event_partitions(now() - make_interval(days => $1 + 1), now())", HISTORY_DAYS)
        async with connection.transaction():
            await connection.execute("ALTER TABLE video_jobs DISABLE TRIGGER USER")
            await connection.execute("ALTER TABLE job_events DISABLE TRIGGER USER")
            first = await connection.fetchval("SELECT coalesce(max(id), 0) + 1 FROM video_jobs")
            await connection.execute(
                _FILL_JOBS, DRAFT_BASE, prefix, jobs, STAGES[50], COMPLETED_STAGE, HISTORY_AGENTS, HISTORY_DAYS)
            last = await connection.fetchval("SELECT max(id) FROM video_jobs")
            if events_per_job:
                await connection.execute(
                    _FILL_EVENTS, first, last, events_per_job, list(STAGES), list(STAGES.values()), PENDING_STAGE)
            await connection.execute("ALTER TABLE job_events ENABLE TRIGGER USER")
            await connection.execute("ALTER TABLE video_jobs ENABLE TRIGGER USER")
        # VACUUM too: a bulk load leaves every page for autovacuum to visit, which it would
        # do in the middle of the measurements that follow.
        await connection.execute("VACUUM (ANALYZE) video_jobs")
        await connection.execute("VACUUM (ANALYZE) job_events")
    finally:
        await connection.close()
