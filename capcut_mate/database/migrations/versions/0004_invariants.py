"""The invariant checker: every promise the job service makes, as one query.

`SELECT * FROM capcut_mate.invariant_violations()` lists what is wrong right now (no rows:
all is well). The fault-injection tests call it after every scenario; operators may too.
Pass the draft URLs you submitted to also check that none was lost, and a lease grace:
how long past its lease a processing job may go before the reaper must have seen it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from capcut_mate.database.migrations import executing

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE FUNCTION capcut_mate.invariant_violations(
        submitted text[] DEFAULT NULL,
        lease_grace interval DEFAULT interval '10 seconds'
    )
    RETURNS TABLE (invariant text, job_id bigint, detail text)
    LANGUAGE sql STABLE AS $$
        -- A processing job has a live lease, or one that ran out moments ago.
        SELECT 'processing_without_lease', j.id,
               format('lease_expires_at %s', coalesce(j.lease_expires_at::text, 'null'))
        FROM capcut_mate.video_jobs AS j
        WHERE j.status = 'processing' AND (j.lease_expires_at IS NULL OR j.lease_expires_at < now() - lease_grace)

        UNION ALL
        -- A completed job was completed exactly once, by its final attempt.
        SELECT 'completion_events', j.id,
               format('%s completion event(s), attempts %s; final attempt %s', count(e.id),
                      string_agg(e.attempt::text, ','), j.attempt)
        FROM capcut_mate.video_jobs AS j
        LEFT JOIN capcut_mate.job_events AS e ON e.job_id = j.id AND e.to_status = 'completed'
        WHERE j.status = 'completed'
        GROUP BY j.id
        HAVING count(e.id) <> 1 OR bool_or(e.attempt <> j.attempt)

        UNION ALL
        -- Nothing completes a job that is not completed.
        SELECT 'completion_events', e.job_id, format('completion event %s on a %s job', e.id, j.status)
        FROM capcut_mate.job_events AS e
        JOIN capcut_mate.video_jobs AS j ON j.id = e.job_id
        WHERE e.to_status = 'completed' AND j.status <> 'completed'

        UNION ALL
        -- Once an attempt has ended (done, failed, its lease lost), nothing more of it is
        -- written: its agent is fenced out.
        SELECT 'write_after_attempt_ended', later.job_id,
               format('event %s of attempt %s after the attempt ended at event %s', later.id, later.attempt, ended.id)
        FROM capcut_mate.job_events AS ended
        JOIN capcut_mate.job_events AS later
          ON later.job_id = ended.job_id AND later.attempt = ended.attempt AND later.id > ended.id
         AND later.from_status = 'processing'
        WHERE ended.from_status = 'processing' AND ended.to_status <> 'processing'

        UNION ALL
        -- At most one active job per draft key.
        SELECT 'two_active_jobs_per_draft', min(j.id), format('draft key %s has %s active jobs', j.draft_key, count(*))
        FROM capcut_mate.video_jobs AS j
        WHERE j.status IN ('pending', 'processing')
        GROUP BY j.draft_key
        HAVING count(*) > 1

        UNION ALL
        -- The history is whole: a job's status is where its last event took it.
        SELECT 'history_out_of_step', j.id, format('status %s, last event to %s', j.status, last.to_status)
        FROM capcut_mate.video_jobs AS j
        CROSS JOIN LATERAL (
            SELECT e.to_status FROM capcut_mate.job_events AS e WHERE e.job_id = j.id ORDER BY e.id DESC LIMIT 1
        ) AS last
        WHERE last.to_status <> j.status

        UNION ALL
        -- No submitted draft was lost: each has a job, in one of the four states.
        SELECT 'lost_submission', NULL::bigint, format('no job for %s', draft.url)
        FROM unnest(coalesce(submitted, '{}'::text[])) AS draft (url)
        WHERE NOT EXISTS (SELECT FROM capcut_mate.video_jobs AS j WHERE j.draft_url = draft.url)
    $$
    """,
]

upgrade = executing(UPGRADE)
