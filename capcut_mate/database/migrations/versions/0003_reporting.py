"""Job history you can query: monthly event partitions, reporting views, operator tokens.

- job_events becomes partitioned by month of `at`, so old history goes with a DROP of
  its partition. ensure_job_event_partitions() makes months ahead (the service calls it
  at start and hourly); a default partition catches anything outside them, so an insert
  never fails for want of a partition.
- Reporting: each figure is an inlinable SQL function of `since` (…_since(timestamptz)),
  and a view of the same name over all history. Filters on the views push down into the
  functions, and `capcut-mate report --since` calls the functions directly; one definition
  serves both. docs/reporting.md documents every column.
- video_jobs.stage_started_at: when the current stage began (for ETAs and the dashboard),
  kept by a trigger so every writer keeps it right.
- operators: holders of admin tokens for the operations API, hashed like agent tokens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from capcut_mate.database.migrations import executing

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = [
    # --- job_events, partitioned by month ------------------------------------------------
    "CREATE SEQUENCE capcut_mate.job_event_ids AS bigint",
    """
    CREATE TABLE capcut_mate.job_events_partitioned (
        id          bigint NOT NULL DEFAULT nextval('capcut_mate.job_event_ids'),
        job_id      bigint NOT NULL REFERENCES capcut_mate.video_jobs (id) ON DELETE CASCADE,
        at          timestamptz NOT NULL DEFAULT now(),
        from_status capcut_mate.job_status,
        to_status   capcut_mate.job_status NOT NULL,
        progress    smallint NOT NULL,
        stage       text,
        attempt     integer NOT NULL,
        agent       text,
        message     text,
        CONSTRAINT job_events_id_at PRIMARY KEY (id, at)
    ) PARTITION BY RANGE (at)
    """,
    "ALTER SEQUENCE capcut_mate.job_event_ids OWNED BY capcut_mate.job_events_partitioned.id",
    """
    CREATE TABLE capcut_mate.job_events_default PARTITION OF capcut_mate.job_events_partitioned DEFAULT
    """,
    """
    -- Monthly partitions job_events_YYYY_MM for every month from first's to last's, in UTC
    -- whatever the session's time zone (the SET clause): a month is from the 1st at 00:00
    -- UTC to the next 1st. A month whose rows already sit in the default partition is left
    -- there (and named in a notice): still correct, just not droppable in one go.
    CREATE FUNCTION capcut_mate.ensure_job_event_partitions(first timestamptz, last timestamptz)
    RETURNS integer LANGUAGE plpgsql SET timezone = 'UTC' AS $$
    DECLARE
        month_start timestamptz := date_trunc('month', first);
        made integer := 0;
        name text;
    BEGIN
        WHILE month_start <= last LOOP
            name := 'job_events_' || to_char(month_start, 'YYYY_MM');
            IF to_regclass('capcut_mate.' || name) IS NULL THEN
                -- Job writes lock video_jobs, then job_events (the history trigger); a new
                -- partition locks job_events, then video_jobs (its foreign key). Taking
                -- video_jobs first keeps the order the same, so the two never deadlock.
                -- The advisory lock lets one process at a time make partitions; the
                -- second look finds what another made meanwhile.
                PERFORM pg_advisory_xact_lock(hashtext('capcut_mate.job_event_partitions'));
                LOCK TABLE capcut_mate.video_jobs IN SHARE ROW EXCLUSIVE MODE;
                IF to_regclass('capcut_mate.' || name) IS NULL THEN
                    BEGIN
                        EXECUTE format(
                            'CREATE TABLE capcut_mate.%I PARTITION OF capcut_mate.job_events'
                            ' FOR VALUES FROM (%L) TO (%L)',
                            name, month_start, month_start + interval '1 month');
                        made := made + 1;
                    EXCEPTION WHEN check_violation THEN
                        RAISE NOTICE 'events of % are in job_events_default; % not made', month_start, name;
                    END;
                END IF;
            END IF;
            month_start := month_start + interval '1 month';
        END LOOP;
        RETURN made;
    END $$
    """,
    "LOCK TABLE capcut_mate.job_events IN EXCLUSIVE MODE",
    "ALTER TABLE capcut_mate.job_events RENAME TO job_events_unpartitioned",
    "ALTER TABLE capcut_mate.job_events_partitioned RENAME TO job_events",
    "ALTER TABLE capcut_mate.job_events RENAME CONSTRAINT job_events_partitioned_job_id_fkey TO job_events_job_id_fkey",
    """
    SELECT capcut_mate.ensure_job_event_partitions(
        least(now(), (SELECT min(at) FROM capcut_mate.job_events_unpartitioned)), now() + interval '3 months')
    """,
    "INSERT INTO capcut_mate.job_events SELECT * FROM capcut_mate.job_events_unpartitioned",
    """
    SELECT setval('capcut_mate.job_event_ids',
                  coalesce((SELECT max(id) FROM capcut_mate.job_events_unpartitioned), 0) + 1, false)
    """,
    "DROP TABLE capcut_mate.job_events_unpartitioned",
    "CREATE INDEX job_events_by_job ON capcut_mate.job_events (job_id, id)",
    "CREATE INDEX job_events_by_time ON capcut_mate.job_events (at)",
    """
    CREATE TRIGGER job_events_append_only BEFORE UPDATE ON capcut_mate.job_events
        FOR EACH ROW EXECUTE FUNCTION capcut_mate.guard_job_event_update()
    """,
    # --- video_jobs: the current stage's start, and indexes for reports and retention ---
    "ALTER TABLE capcut_mate.video_jobs ADD COLUMN stage_started_at timestamptz NOT NULL DEFAULT now()",
    """
    CREATE FUNCTION capcut_mate.stamp_stage_start() RETURNS trigger
        LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.stage IS DISTINCT FROM OLD.stage OR NEW.status <> OLD.status OR NEW.attempt <> OLD.attempt THEN
            NEW.stage_started_at := now();
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER video_jobs_stamp_stage_start BEFORE UPDATE ON capcut_mate.video_jobs
        FOR EACH ROW EXECUTE FUNCTION capcut_mate.stamp_stage_start()
    """,
    """
    CREATE INDEX video_jobs_finished_at ON capcut_mate.video_jobs (completed_at)
        WHERE status IN ('completed', 'failed')
    """,
    "CREATE INDEX video_jobs_created_at ON capcut_mate.video_jobs (created_at)",
    "CREATE INDEX video_jobs_by_agent ON capcut_mate.video_jobs (agent, id) WHERE agent IS NOT NULL",
    # --- reporting ------------------------------------------------------------------------
    """
    -- The note the lease reaper writes on the event of a lost lease; reports count them by it.
    CREATE FUNCTION capcut_mate.lease_lost_note() RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        RETURN '租约到期，代理未按时汇报'
    """,
    """
    CREATE FUNCTION capcut_mate.job_history_since(since timestamptz)
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
            SELECT min(e.at) AS first_at, max(e.at) AS last_at, array_agg(e.agent ORDER BY e.id) AS agents
            FROM capcut_mate.job_events AS e
            WHERE e.job_id = j.id AND e.from_status = 'pending' AND e.to_status = 'processing'
        ) AS claims ON true
        WHERE j.created_at >= since
    $$
    """,
    """
    CREATE FUNCTION capcut_mate.stage_durations_since(since timestamptz)
    RETURNS TABLE (
        job_id bigint, attempt integer, agent text, stage text, progress smallint,
        entered_at timestamptz, left_at timestamptz, duration interval
    )
    LANGUAGE sql STABLE AS $$
        SELECT job_id, attempt, agent, stage, min(progress), min(at),
               CASE WHEN bool_or(next_at IS NULL) THEN NULL ELSE max(next_at) END,
               CASE WHEN bool_or(next_at IS NULL) THEN NULL ELSE sum(next_at - at) END
        FROM (
            SELECT e.job_id, e.attempt, e.agent, e.stage, e.progress, e.at, e.to_status,
                   lead(e.at) OVER (PARTITION BY e.job_id ORDER BY e.id) AS next_at
            FROM capcut_mate.job_events AS e
            WHERE e.at >= since
        ) AS timeline
        WHERE to_status = 'processing'
        GROUP BY job_id, attempt, agent, stage
    $$
    """,
    """
    CREATE FUNCTION capcut_mate.throughput_hourly_since(since timestamptz)
    RETURNS TABLE (hour timestamptz, submitted bigint, completed bigint, failed bigint)
    LANGUAGE sql STABLE AS $$
        SELECT hour, sum(submitted)::bigint, sum(completed)::bigint, sum(failed)::bigint
        FROM (
            SELECT date_trunc('hour', created_at, 'UTC') AS hour, 1 AS submitted, 0 AS completed, 0 AS failed
            FROM capcut_mate.video_jobs
            WHERE created_at >= since
            UNION ALL
            SELECT date_trunc('hour', completed_at, 'UTC'), 0,
                   (status = 'completed')::integer, (status = 'failed')::integer
            FROM capcut_mate.video_jobs
            WHERE status IN ('completed', 'failed') AND completed_at >= since
        ) AS happenings
        GROUP BY hour
    $$
    """,
    """
    CREATE FUNCTION capcut_mate.agent_stats_since(since timestamptz)
    RETURNS TABLE (
        agent text, jobs_done bigint, jobs_failed bigint, lost_leases bigint,
        mean_export_time interval, last_seen_at timestamptz
    )
    LANGUAGE sql STABLE AS $$
        WITH endings AS (
            SELECT e.agent, e.to_status, e.message = capcut_mate.lease_lost_note() AS lost, e.at - c.at AS took
            FROM capcut_mate.job_events AS e
            LEFT JOIN capcut_mate.job_events AS c
                   ON c.job_id = e.job_id AND c.attempt = e.attempt
                  AND c.from_status = 'pending' AND c.to_status = 'processing'
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
    """
    CREATE FUNCTION capcut_mate.failure_reasons_since(since timestamptz)
    RETURNS TABLE (error_message text, jobs bigint, last_failed_at timestamptz)
    LANGUAGE sql STABLE AS $$
        SELECT error_message, count(*), max(completed_at)
        FROM capcut_mate.video_jobs
        WHERE status = 'failed' AND completed_at >= since
        GROUP BY error_message
    $$
    """,
    "CREATE VIEW capcut_mate.job_history AS SELECT * FROM capcut_mate.job_history_since('-infinity')",
    "CREATE VIEW capcut_mate.stage_durations AS SELECT * FROM capcut_mate.stage_durations_since('-infinity')",
    "CREATE VIEW capcut_mate.throughput_hourly AS SELECT * FROM capcut_mate.throughput_hourly_since('-infinity')",
    "CREATE VIEW capcut_mate.agent_stats AS SELECT * FROM capcut_mate.agent_stats_since('-infinity')",
    "CREATE VIEW capcut_mate.failure_reasons AS SELECT * FROM capcut_mate.failure_reasons_since('-infinity')",
    # --- operators ------------------------------------------------------------------------
    """
    CREATE TABLE capcut_mate.operators (
        id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
        token_id     text NOT NULL UNIQUE,
        token_hash   bytea NOT NULL CHECK (octet_length(token_hash) = 32),
        created_at   timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz,
        revoked_at   timestamptz
    )
    """,
]

upgrade = executing(UPGRADE)
