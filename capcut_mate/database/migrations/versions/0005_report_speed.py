"""Reports that stay fast as history grows: claims indexed on their own, pruned lookups.

With a million finished jobs and ten million events, `capcut-mate report --since 24h`
spent most of its time looking up each job's claim events: one probe per job in every
monthly partition, each reading all ten of the job's events to find its one or two claims.

- `job_events_claims`: a small partial index of the claim events alone (one in ten
  events), carrying the columns the reports read, so a claim lookup is an index-only probe.
- `job_history_since` bounds each job's claim lookup by the job's own lifetime, so the
  executor skips the months the job did not live in (run-time partition pruning).
- `agent_stats_since` takes a completed attempt's export time from the job row: a
  completed job's `started_at` is the claim time of its final attempt, the one that
  completed, so no second event lookup is needed. Its columns keep their meaning.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from capcut_mate.database.migrations import executing

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE INDEX job_events_claims ON capcut_mate.job_events (job_id, attempt) INCLUDE (at, agent)
        WHERE from_status = 'pending' AND to_status = 'processing'
    """,
    """
    CREATE OR REPLACE FUNCTION capcut_mate.job_history_since(since timestamptz)
    RETURNS TABLE (
        job_id bigint, draft_url text, draft_key text, status capcut_mate.job_status, attempts integer,
        agents text[], created_at timestamptz, first_claimed_at timestamptz, completed_at timestamptz,
        queue_wait interval, run_time interval, total_time interval, error_message text
    )
    LANGUAGE sql STABLE AS $$
        SELECT j.id, j.draft_url, j.draft_key, j.status, j.attempt,
               coalesce(claims.agents, '{}'), j.created_at, claims.first_at, j.completed_at,
               claims.first_at - j.created_at,
               j.completed_at - claims.last_at,
               j.completed_at - j.created_at,
               j.error_message
        FROM capcut_mate.video_jobs AS j
        LEFT JOIN LATERAL (
            SELECT min(e.at) AS first_at, max(e.at) AS last_at, array_agg(e.agent ORDER BY e.attempt, e.at) AS agents
            FROM capcut_mate.job_events AS e
            WHERE e.job_id = j.id AND e.from_status = 'pending' AND e.to_status = 'processing'
              -- Always true; it lets the executor skip the partitions outside the job's life.
              AND e.at >= j.created_at AND e.at <= coalesce(j.completed_at, 'infinity')
        ) AS claims ON true
        WHERE j.created_at >= since
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION capcut_mate.agent_stats_since(since timestamptz)
    RETURNS TABLE (
        agent text, jobs_done bigint, jobs_failed bigint, lost_leases bigint,
        mean_export_time interval, last_seen_at timestamptz
    )
    LANGUAGE sql STABLE AS $$
        WITH endings AS (
            SELECT e.agent, e.to_status, e.message = capcut_mate.lease_lost_note() AS lost,
                   CASE WHEN e.to_status = 'completed'
                        THEN e.at - (SELECT j.started_at FROM capcut_mate.video_jobs AS j WHERE j.id = e.job_id)
                   END AS took
            FROM capcut_mate.job_events AS e
            WHERE e.at >= since AND e.from_status = 'processing' AND e.to_status <> 'processing'
              AND e.agent IS NOT NULL
        ),
        per_agent AS (
            SELECT agent,
                   count(*) FILTER (WHERE to_status = 'completed') AS jobs_done,
                   -- Failures the agent reported, final or retried; lost leases apart.
                   count(*) FILTER (WHERE to_status IN ('failed', 'pending') AND NOT lost) AS jobs_failed,
                   count(*) FILTER (WHERE lost) AS lost_leases,
                   avg(took) FILTER (WHERE to_status = 'completed') AS mean_export_time
            FROM endings
            GROUP BY agent
        )
        SELECT coalesce(p.agent, a.name), coalesce(p.jobs_done, 0), coalesce(p.jobs_failed, 0),
               coalesce(p.lost_leases, 0), p.mean_export_time, a.last_seen_at
        FROM per_agent AS p
        FULL JOIN capcut_mate.agents AS a ON a.name = p.agent
    $$
    """,
]

upgrade = executing(UPGRADE)
