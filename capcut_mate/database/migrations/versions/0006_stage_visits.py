"""Stage durations read straight off the history: the event that ends a stage says so.

`stage_durations` used to pair every event with the next one of its job (a window over
the whole window of history, sorted twice): with ten million events, most of
`capcut-mate report --since 24h`. Now the trigger that writes the history records, on
the event that takes a job out of a stage, which stage that was, when it began and the
progress it began with (`left_stage`, `left_stage_entered_at`, `left_stage_progress`);
the job row keeps the same for the stage it is in (`stage_started_at`, and now
`stage_start_progress`). A stage's time is then one subtraction on one row.

`stage_durations` keeps its columns and their meaning, with one row per visit of a stage:
an attempt that goes back to a stage it left (an agent naming its own stages may) now has
a row for each visit, where it had one row summing them. docs/reporting.md.

Leaving a stage is one rule, `capcut_mate.starts_new_stage(old, new)`, shared by the
trigger that stamps a stage's start and the one that records its end.

The upgrade fills the new columns for the history already written, from the same event
order the old definition read. That rewrites the events that end a stage (about six in
ten) in one transaction that holds video_jobs and job_events locked until it commits: the
service can neither claim nor answer polls meanwhile: seconds for a small history, far
longer for a big one (benchmarks/RESULTS.md, "Figures behind the code"). On a
big one, stop the services and run `capcut-mate migrate` in a quiet hour (then VACUUM
job_events, or let autovacuum). Filling in batches while the service runs would avoid the
outage; it is not built.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from capcut_mate.database.migrations import executing

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = [
    "ALTER TABLE capcut_mate.video_jobs ADD COLUMN stage_start_progress smallint NOT NULL DEFAULT 0",
    """
    ALTER TABLE capcut_mate.job_events
        ADD COLUMN left_stage text,
        ADD COLUMN left_stage_progress smallint,
        ADD COLUMN left_stage_entered_at timestamptz
    """,
    """
    -- Whether an update takes the job into a new stage (and out of the one it was in):
    -- another stage name, another status, or another attempt.
    CREATE FUNCTION capcut_mate.starts_new_stage(old capcut_mate.video_jobs, new capcut_mate.video_jobs)
    RETURNS boolean LANGUAGE sql IMMUTABLE
    RETURN new.stage IS DISTINCT FROM old.stage OR new.status <> old.status OR new.attempt <> old.attempt
    """,
    """
    CREATE OR REPLACE FUNCTION capcut_mate.stamp_stage_start() RETURNS trigger
        LANGUAGE plpgsql AS $$
    BEGIN
        IF capcut_mate.starts_new_stage(OLD, NEW) THEN
            NEW.stage_started_at := now();
            NEW.stage_start_progress := NEW.progress;
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    -- One history row per change of status, progress, stage or attempt, a cancel
    -- request, or a new message; the row that takes a running job out of a stage also
    -- names that stage, its start and its first progress. And a wake-up for waiting
    -- claims when a job becomes claimable.
    CREATE OR REPLACE FUNCTION capcut_mate.record_job_event() RETURNS trigger
        LANGUAGE plpgsql AS $$
    DECLARE
        leaves_stage boolean;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO capcut_mate.job_events
                (job_id, at, from_status, to_status, progress, stage, attempt, agent, message)
            VALUES (NEW.id, now(), NULL, NEW.status, NEW.progress, NEW.stage, NEW.attempt,
                    NEW.agent, NEW.last_message);
        ELSIF NEW.status <> OLD.status
           OR NEW.progress <> OLD.progress
           OR NEW.stage IS DISTINCT FROM OLD.stage
           OR NEW.cancel_requested <> OLD.cancel_requested
           OR (NEW.last_message IS NOT NULL AND NEW.last_message IS DISTINCT FROM OLD.last_message) THEN
            leaves_stage := OLD.status = 'processing' AND capcut_mate.starts_new_stage(OLD, NEW);
            INSERT INTO capcut_mate.job_events
                (job_id, at, from_status, to_status, progress, stage, attempt, agent, message,
                 left_stage, left_stage_progress, left_stage_entered_at)
            VALUES (NEW.id, now(), OLD.status, NEW.status, NEW.progress, NEW.stage, NEW.attempt,
                    coalesce(NEW.agent, OLD.agent), NEW.last_message,
                    CASE WHEN leaves_stage THEN OLD.stage END,
                    CASE WHEN leaves_stage THEN OLD.stage_start_progress END,
                    CASE WHEN leaves_stage THEN OLD.stage_started_at END);
        END IF;

        IF NEW.status = 'pending' AND NEW.run_after <= now()
           AND (TG_OP = 'INSERT' OR OLD.status <> 'pending') THEN
            PERFORM pg_notify('capcut_mate_jobs',
                              json_build_object('id', NEW.id, 'requirements', NEW.requirements)::text);
        END IF;
        RETURN NULL;
    END $$
    """,
    # --- the history already written ---------------------------------------------------
    """
    -- Jobs running now: the first progress of the stage they are in, read in event order
    -- (times can tie within a transaction): the first event after the last one that was
    -- not in this stage of this attempt.
    UPDATE capcut_mate.video_jobs AS j
    SET stage_start_progress = coalesce(
        (SELECT e.progress FROM capcut_mate.job_events AS e
         WHERE e.job_id = j.id
           AND e.id > coalesce((SELECT max(other.id) FROM capcut_mate.job_events AS other
                                WHERE other.job_id = j.id
                                  AND (other.to_status <> 'processing' OR other.stage IS DISTINCT FROM j.stage
                                       OR other.attempt <> j.attempt)), 0)
         ORDER BY e.id LIMIT 1), j.progress)
    WHERE j.status = 'processing'
    """,
    "ALTER TABLE capcut_mate.job_events DISABLE TRIGGER job_events_append_only",
    """
    -- Consecutive events of a job are consecutive states of its row, so the rule above
    -- applies to each event and the one before it. A visit of a stage runs from the event
    -- that started it to the event that ended it.
    WITH paired AS (
        SELECT e.id, e.at, e.job_id, e.to_status, e.stage, e.progress,
               lag(e.to_status) OVER by_job AS before_status,
               (lag(e.to_status) OVER by_job) IS DISTINCT FROM e.to_status
                   OR (lag(e.stage) OVER by_job) IS DISTINCT FROM e.stage
                   OR (lag(e.attempt) OVER by_job) IS DISTINCT FROM e.attempt AS starts_stage
        FROM capcut_mate.job_events AS e
        WINDOW by_job AS (PARTITION BY e.job_id ORDER BY e.id)
    ),
    numbered AS (
        SELECT *, count(*) FILTER (WHERE starts_stage) OVER (PARTITION BY job_id ORDER BY id) AS visit
        FROM paired
    ),
    visits AS (
        SELECT *, first_value(at) OVER visit AS visit_at, first_value(progress) OVER visit AS visit_progress
        FROM numbered
        WINDOW visit AS (PARTITION BY job_id, visit ORDER BY id)
    ),
    endings AS (
        SELECT id, at, starts_stage AND before_status = 'processing' AS ends_one,
               lag(stage) OVER by_job AS left_stage,
               lag(visit_progress) OVER by_job AS left_stage_progress,
               lag(visit_at) OVER by_job AS left_stage_entered_at
        FROM visits
        WINDOW by_job AS (PARTITION BY job_id ORDER BY id)
    )
    UPDATE capcut_mate.job_events AS e
    SET left_stage = endings.left_stage,
        left_stage_progress = endings.left_stage_progress,
        left_stage_entered_at = endings.left_stage_entered_at
    FROM endings
    WHERE endings.ends_one AND e.id = endings.id AND e.at = endings.at
    """,
    "ALTER TABLE capcut_mate.job_events ENABLE TRIGGER job_events_append_only",
    """
    ALTER TABLE capcut_mate.job_events ADD CONSTRAINT job_events_left_stage_whole CHECK (
        (left_stage IS NULL) = (left_stage_entered_at IS NULL)
        AND (left_stage_progress IS NULL) = (left_stage_entered_at IS NULL))
    """,
    # --- the reporting function ----------------------------------------------------------
    """
    -- One row per visit of a stage: those that ended at or after `since`, and those under
    -- way that began at or after it.
    CREATE OR REPLACE FUNCTION capcut_mate.stage_durations_since(since timestamptz)
    RETURNS TABLE (
        job_id bigint, attempt integer, agent text, stage text, progress smallint,
        entered_at timestamptz, left_at timestamptz, duration interval
    )
    LANGUAGE sql STABLE AS $$
        SELECT e.job_id, e.attempt, e.agent, e.left_stage, e.left_stage_progress, e.left_stage_entered_at,
               e.at, e.at - e.left_stage_entered_at
        FROM capcut_mate.job_events AS e
        WHERE e.at >= since AND e.left_stage_entered_at IS NOT NULL
        UNION ALL
        SELECT j.id, j.attempt, j.agent, j.stage, j.stage_start_progress, j.stage_started_at, NULL, NULL
        FROM capcut_mate.video_jobs AS j
        WHERE j.status = 'processing' AND j.stage_started_at >= since
    $$
    """,
]

upgrade = executing(UPGRADE)
