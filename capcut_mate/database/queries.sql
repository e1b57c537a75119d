-- Every statement the service runs, by name. capcut_mate/database/store.py loads this file
-- and is the only module that executes these. Connections run with
-- search_path = capcut_mate, so names are unqualified here.
--
-- Each query is a single statement, so each store operation is one short transaction.
-- `idempotent` after a name: running the statement twice changes nothing (or its repeat is
-- recognised), so the store may run it again when the connection is lost in the middle.

-- name: lock_draft_for_submit
-- Submits of one draft key take turns (until their transaction ends), so the submit that
-- follows in the same transaction sees every job an earlier submit made.
SELECT pg_advisory_xact_lock(hashtext('capcut_mate.submit'), hashtext($1));

-- name: submit_job idempotent
-- Idempotent per draft: insert a pending job unless the draft already has an active one,
-- and answer with whichever job is now active. Run after lock_draft_for_submit, in its
-- transaction: without it, a concurrent submit that commits between this statement's
-- snapshot and its insert leaves it no row to answer with.
WITH inserted AS (
    INSERT INTO video_jobs (draft_url, draft_key, priority, requirements, max_attempts, stage)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (draft_digest(draft_key)) WHERE status IN ('pending', 'processing') DO NOTHING
    RETURNING *
)
SELECT *, true AS created FROM inserted
UNION ALL
SELECT j.*, false AS created
FROM video_jobs AS j
WHERE draft_digest(j.draft_key) = draft_digest($2)
  AND j.status IN ('pending', 'processing')
  AND NOT EXISTS (SELECT FROM inserted);

-- name: find_job_for_draft idempotent
-- gen_video_status: the newest job with exactly this draft_url; else the newest with the
-- same draft key.
-- Each branch is one probe of an index on (draft_digest(…), id), which serves both the
-- match and the newest-first order (migration 0007): the plan needs no statistics.
SELECT * FROM (
    (SELECT j.*, 1 AS match_rank FROM video_jobs AS j
     WHERE draft_digest(j.draft_url) = draft_digest($1) AND j.draft_url = $1
     ORDER BY j.id DESC LIMIT 1)
    UNION ALL
    (SELECT j.*, 2 AS match_rank FROM video_jobs AS j
     WHERE draft_digest(j.draft_key) = draft_digest($2) AND j.draft_key = $2
     ORDER BY j.id DESC LIMIT 1)
) AS candidates
ORDER BY match_rank
LIMIT 1;

-- name: get_job idempotent
SELECT * FROM video_jobs WHERE id = $1;

-- name: count_active_jobs idempotent
SELECT count(*) FROM video_jobs WHERE status IN ('pending', 'processing');

-- name: claim_jobs
-- Pick, lock and start jobs in one statement, for the agent whose token id is $1, while
-- that token is live. SKIP LOCKED lets any number of claimers run at once without waiting
-- on each other or taking the same job; video_jobs_claim_order serves the pick.
-- Requirements must be a subset of the agent's tags.
-- The token's row is read FOR SHARE: a revoke or a new token (an UPDATE of that row)
-- either waits for this claim to commit, and then ends the attempts it started, or
-- commits first, and this claim finds the token gone and takes nothing. Without it, a
-- claim authenticated just before a revoke started attempts nobody could end.
WITH holder AS (
    SELECT name FROM agents WHERE token_id = $1 AND revoked_at IS NULL FOR SHARE
),
picked AS (
    SELECT id
    FROM video_jobs
    WHERE status = 'pending'
      AND run_after <= now()
      AND requirements <@ $2::text[]
      AND EXISTS (SELECT FROM holder)
    ORDER BY priority DESC, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE video_jobs AS j
SET status = 'processing',
    attempt = j.attempt + 1,
    progress = 10,
    stage = $5,
    agent = holder.name,
    agent_token_id = $1,
    lease_expires_at = now() + make_interval(secs => $4),
    started_at = now(),
    last_message = NULL
FROM picked, holder
WHERE j.id = picked.id
RETURNING j.id, j.attempt, j.draft_url, j.draft_key, j.priority, j.requirements, j.lease_expires_at,
          j.run_after;

-- name: report_progress idempotent
-- Fenced on (id, attempt) and the token that claimed the attempt ($3), still live (as
-- every fenced write below is): an agent's identity is its token, never its name alone.
-- Extends the lease, except once a cancel was requested: then the lease runs out and the
-- reaper fails the job if the agent never answers. Stage: the one given; else the
-- current one for a heartbeat; else the progress' own stage name ($8).
UPDATE video_jobs
SET progress = $4,
    stage = coalesce($5::text, CASE WHEN progress = $4 THEN stage END, $8::text),
    last_message = $6,
    lease_expires_at = CASE WHEN cancel_requested THEN lease_expires_at
                            ELSE now() + make_interval(secs => $7) END
WHERE id = $1 AND attempt = $2 AND progress <= $4
  AND agent_token_id = $3 AND status = 'processing'
  AND EXISTS (SELECT FROM agents WHERE token_id = $3 AND revoked_at IS NULL)
RETURNING lease_expires_at, cancel_requested;

-- name: complete_job idempotent
-- The video is done. If a cancel was requested meanwhile, the cancel wins: the job fails
-- with the cancel message ($6), as the client asked. The history keeps the video's URL.
UPDATE video_jobs
SET status = CASE WHEN cancel_requested THEN 'failed' ELSE 'completed' END::job_status,
    progress = CASE WHEN cancel_requested THEN 0 ELSE 100 END,
    stage = CASE WHEN cancel_requested THEN stage ELSE $5 END,
    video_url = CASE WHEN cancel_requested THEN NULL ELSE $4 END,
    error_message = CASE WHEN cancel_requested THEN $6 END,
    lease_expires_at = NULL,
    completed_at = now(),
    last_message = $4
WHERE id = $1 AND attempt = $2
  AND agent_token_id = $3 AND status = 'processing'
  AND EXISTS (SELECT FROM agents WHERE token_id = $3 AND revoked_at IS NULL)
RETURNING status;

-- name: fail_job idempotent
-- A retryable failure with attempts left, and no cancel pending, goes back to the queue
-- after a backoff ($6 seconds); anything else is final. A cancelled job always ends with
-- the cancel message ($7), whatever the agent says.
WITH running AS (
    SELECT id,
           ($5 AND NOT cancel_requested AND attempt < max_attempts) AS retry,
           cancel_requested
    FROM video_jobs
    WHERE id = $1 AND attempt = $2
      AND agent_token_id = $3 AND status = 'processing'
      AND EXISTS (SELECT FROM agents WHERE token_id = $3 AND revoked_at IS NULL)
    FOR UPDATE
)
UPDATE video_jobs AS j
SET status = CASE WHEN r.retry THEN 'pending' ELSE 'failed' END::job_status,
    progress = 0,
    stage = CASE WHEN r.retry THEN $8 ELSE j.stage END,
    error_message = CASE WHEN r.retry THEN NULL WHEN r.cancel_requested THEN $7 ELSE $4 END,
    agent = CASE WHEN r.retry THEN NULL ELSE j.agent END,
    agent_token_id = CASE WHEN r.retry THEN NULL ELSE j.agent_token_id END,
    lease_expires_at = NULL,
    started_at = CASE WHEN r.retry THEN NULL ELSE j.started_at END,
    completed_at = CASE WHEN r.retry THEN NULL ELSE now() END,
    run_after = CASE WHEN r.retry THEN now() + make_interval(secs => $6) ELSE j.run_after END,
    last_message = $4
FROM running AS r
WHERE j.id = r.id
RETURNING j.status, j.run_after;

-- name: ending_of_attempt idempotent
-- How an attempt ended, for answering a repeated complete or fail: the history row that
-- took the job out of processing for that attempt.
SELECT to_status, at, agent, message
FROM job_events
WHERE job_id = $1 AND attempt = $2 AND from_status = 'processing' AND to_status <> 'processing'
ORDER BY id DESC
LIMIT 1;

-- name: cancel_job
-- Cancel one active job: by id ($1), or else the active job of draft key $2. A pending job
-- fails at once, in stage $4 (cancelled); a processing one is flagged, and its agent hears
-- of it on its next progress call. No row: no such active job.
WITH target AS (
    SELECT id, status
    FROM video_jobs
    WHERE status IN ('pending', 'processing')
      AND CASE WHEN $1::bigint IS NULL THEN draft_digest(draft_key) = draft_digest($2::text) ELSE id = $1 END
    FOR UPDATE
)
UPDATE video_jobs AS j
SET status = CASE WHEN t.status = 'pending' THEN 'failed' ELSE 'processing' END::job_status,
    error_message = CASE WHEN t.status = 'pending' THEN $3 END,
    stage = CASE WHEN t.status = 'pending' THEN $4 ELSE j.stage END,
    completed_at = CASE WHEN t.status = 'pending' THEN now() END,
    cancel_requested = true,
    last_message = $3
FROM target AS t
WHERE j.id = t.id
RETURNING j.*;

-- name: expire_leases idempotent
-- The lease reaper. Expired attempts go back to the queue, or fail once attempts are used
-- up or a cancel was requested. SKIP LOCKED makes concurrent reapers (one per service
-- process) share the work instead of colliding. With $5, the attempts of agent $5 end too,
-- expired or not, noted $6: its token was revoked or replaced (an agent's identity is its
-- token), and the transaction locked them first (lock_attempts_of_agent), so none is skipped.
WITH expired AS (
    SELECT id,
           (cancel_requested OR attempt >= max_attempts) AS give_up,
           cancel_requested
    FROM video_jobs
    WHERE status = 'processing' AND (lease_expires_at < now() OR agent = $5::text)
    ORDER BY id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE video_jobs AS j
SET status = CASE WHEN e.give_up THEN 'failed' ELSE 'pending' END::job_status,
    progress = 0,
    stage = CASE WHEN e.give_up THEN j.stage ELSE $4 END,
    error_message = CASE WHEN NOT e.give_up THEN NULL
                         WHEN e.cancel_requested THEN $2
                         ELSE $3 END,
    agent = CASE WHEN e.give_up THEN j.agent END,
    agent_token_id = CASE WHEN e.give_up THEN j.agent_token_id END,
    lease_expires_at = NULL,
    started_at = CASE WHEN e.give_up THEN j.started_at END,
    completed_at = CASE WHEN e.give_up THEN now() END,
    run_after = now(),
    last_message = coalesce($6::text, lease_lost_note())
FROM expired AS e
WHERE j.id = e.id
RETURNING j.id, j.status, j.attempt;

-- name: expire_pending_jobs
-- Jobs that waited in the queue longer than the configured limit fail. The wait counts
-- from when the job last became claimable, so a requeued job starts afresh.
WITH stale AS (
    SELECT id
    FROM video_jobs
    WHERE status = 'pending' AND run_after < now() - make_interval(secs => $1)
    ORDER BY id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE video_jobs AS j
SET status = 'failed',
    error_message = $3,
    completed_at = now(),
    last_message = $3
FROM stale
WHERE j.id = stale.id
RETURNING j.id;

-- name: add_agent
-- A new agent; or, with $5 or when the name was revoked, the same name with a new token.
-- No row: an active agent already has the name.
INSERT INTO agents (name, token_id, token_hash, tags)
VALUES ($1, $2, $3, $4)
ON CONFLICT (name) DO UPDATE
    SET token_id = excluded.token_id,
        token_hash = excluded.token_hash,
        tags = excluded.tags,
        revoked_at = NULL
    WHERE agents.revoked_at IS NOT NULL OR $5
RETURNING id;

-- name: find_agent_by_token_id idempotent
SELECT id, name, token_id, token_hash, tags, revoked_at IS NOT NULL AS revoked,
       (last_seen_at IS NULL OR last_seen_at < now() - interval '10 seconds') AS seen_long_ago
FROM agents
WHERE token_id = $1;

-- name: agent_is_active idempotent
SELECT EXISTS (SELECT FROM agents WHERE id = $1 AND revoked_at IS NULL);

-- name: touch_agent
UPDATE agents
SET last_seen_at = now(),
    version = coalesce($2, version),
    hostname = coalesce($3, hostname)
WHERE id = $1;

-- name: revoke_agent
UPDATE agents SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING id;

-- name: lock_attempts_of_agent
-- The processing jobs of agent $1, locked (waiting for whoever holds them) until the
-- transaction ends: what revoking its token then ends with expire_leases.
SELECT id FROM video_jobs WHERE status = 'processing' AND agent = $1 ORDER BY id FOR UPDATE;

-- name: take_client_request
-- The client rate limit, one bucket per address shared by every service process: may a
-- request from $1 go, at $2 requests a second with bursts of $3? Answers 0 when it may
-- (and counts it), else the seconds until one may. GCRA: the bucket is one moment, `tat`.
WITH taken AS (
    INSERT INTO client_rate_buckets AS b (address, tat)
    VALUES ($1, now() + make_interval(secs => 1.0 / $2::float8))
    ON CONFLICT (address) DO UPDATE
        SET tat = greatest(b.tat, now()) + make_interval(secs => 1.0 / $2::float8)
        WHERE greatest(b.tat, now()) <= now() + make_interval(secs => ($3::float8 - 1) / $2::float8)
    RETURNING 0::float8 AS wait
)
SELECT wait FROM taken
UNION ALL
SELECT greatest(extract(epoch FROM b.tat - now())::float8 - ($3::float8 - 1) / $2::float8, 0.001)
FROM client_rate_buckets AS b
WHERE b.address = $1 AND NOT EXISTS (SELECT FROM taken);

-- name: forget_full_rate_buckets
-- Buckets that refilled completely: the same as no bucket.
DELETE FROM client_rate_buckets WHERE tat < now();

-- name: list_agents idempotent
-- state: revoked; busy (running jobs); idle (seen within $1 seconds); else offline.
SELECT name, tags, version, hostname, created_at, last_seen_at, revoked_at, running_jobs,
       CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
            WHEN running_jobs > 0 THEN 'busy'
            WHEN last_seen_at > now() - make_interval(secs => $1) THEN 'idle'
            ELSE 'offline' END AS state
FROM (
    SELECT a.*,
           (SELECT count(*) FROM video_jobs AS j WHERE j.status = 'processing' AND j.agent = a.name) AS running_jobs
    FROM agents AS a
) AS counted
ORDER BY name;

-- name: expire_lease_now
-- The claim's answer never reached its agent: end the lease, so the reaper requeues the
-- job at once instead of after a whole lease.
UPDATE video_jobs
SET lease_expires_at = now()
WHERE id = $1 AND attempt = $2
  AND agent_token_id = $3 AND status = 'processing'
  AND EXISTS (SELECT FROM agents WHERE token_id = $3 AND revoked_at IS NULL);

-- name: check_lease idempotent
-- Whether (id, attempt, agent's token) still holds the job's lease, before accepting an upload.
SELECT EXISTS (
    SELECT FROM video_jobs
    WHERE id = $1 AND attempt = $2
      AND agent_token_id = $3 AND status = 'processing'
      AND EXISTS (SELECT FROM agents WHERE token_id = $3 AND revoked_at IS NULL)
);

-- name: live_attempts idempotent
-- Of these (job id, attempt) pairs ($1, $2 side by side), those still processing: only their
-- uploads can still become a job's video.
SELECT j.id, j.attempt
FROM video_jobs AS j
JOIN unnest($1::bigint[], $2::integer[]) AS p(id, attempt) ON j.id = p.id AND j.attempt = p.attempt
WHERE j.status = 'processing';

-- name: videos_in_use idempotent
-- Of these stored videos ($1 job ids, $2 attempts, $3 names side by side), those a job may
-- still show: its attempt still runs (its complete may yet name it), or it is its job's
-- video_url (a name in the URL's path; matching loosely only ever keeps more). Any other is
-- nobody's: its job is gone (pruned), or its attempt ended without it.
SELECT v.name
FROM unnest($1::bigint[], $2::integer[], $3::text[]) AS v(job_id, attempt, name)
JOIN video_jobs AS j ON j.id = v.job_id
WHERE (j.status = 'processing' AND j.attempt = v.attempt)
   OR j.video_url LIKE '%/' || v.name || '%';

-- name: find_operator_by_token_id idempotent
SELECT id, name, token_hash, revoked_at IS NOT NULL AS revoked
FROM operators
WHERE token_id = $1;

-- name: add_operator
-- No row: an active operator already has the name.
INSERT INTO operators (name, token_id, token_hash)
VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE
    SET token_id = excluded.token_id, token_hash = excluded.token_hash, revoked_at = NULL
    WHERE operators.revoked_at IS NOT NULL
RETURNING id;

-- name: revoke_operator
UPDATE operators SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING id;

-- name: list_jobs idempotent
-- The operations API's job list, newest first, filters optional (NULL: any), paged by
-- keyset: $6 is the last id of the previous page.
SELECT *
FROM video_jobs
WHERE ($1::job_status IS NULL OR status = $1)
  AND ($2::text IS NULL OR agent = $2)
  AND ($3::text IS NULL OR draft_key = $3 OR draft_url = $3)
  AND ($4::timestamptz IS NULL OR created_at >= $4)
  AND ($5::timestamptz IS NULL OR created_at < $5)
  AND ($6::bigint IS NULL OR id < $6)
ORDER BY id DESC
LIMIT $7;

-- name: job_events_of idempotent
SELECT id, at, from_status, to_status, progress, stage, attempt, agent, message
FROM job_events
WHERE job_id = $1
ORDER BY id;

-- name: queue_summary idempotent
SELECT
    (SELECT count(*) FROM video_jobs WHERE status = 'pending') AS pending,
    (SELECT count(*) FROM video_jobs WHERE status = 'processing') AS processing,
    (SELECT extract(epoch FROM now() - min(created_at))::float8 FROM video_jobs WHERE status = 'pending')
        AS oldest_pending_seconds,
    (SELECT count(*) FROM video_jobs WHERE status = 'completed' AND completed_at >= now() - interval '1 hour')
        AS completed_last_hour,
    (SELECT count(*) FROM video_jobs WHERE status = 'failed' AND completed_at >= now() - interval '1 hour')
        AS failed_last_hour,
    (SELECT count(*) FROM video_jobs WHERE status = 'completed' AND completed_at >= now() - interval '24 hours')
        AS completed_last_day,
    (SELECT count(*) FROM video_jobs WHERE status = 'failed' AND completed_at >= now() - interval '24 hours')
        AS failed_last_day;

-- name: jobs_by_status idempotent
SELECT status::text, count(*) FROM video_jobs GROUP BY status;

-- name: report_jobs idempotent
-- Per status: how many jobs created since $1, and their mean waits and times in seconds.
SELECT status::text,
       count(*) AS jobs,
       extract(epoch FROM avg(queue_wait))::float8 AS mean_queue_wait_seconds,
       extract(epoch FROM avg(run_time))::float8 AS mean_run_seconds,
       extract(epoch FROM avg(total_time))::float8 AS mean_total_seconds
FROM job_history_since($1)
GROUP BY status
ORDER BY status;

-- name: report_throughput idempotent
SELECT hour, submitted, completed, failed FROM throughput_hourly_since($1) ORDER BY hour;

-- name: report_stages idempotent
-- Finished stages since $1, by the standard stage ($2: the stage thresholds) they fall in.
SELECT threshold,
       count(*) AS samples,
       extract(epoch FROM avg(duration))::float8 AS mean_seconds,
       extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY duration))::float8 AS p50_seconds,
       extract(epoch FROM percentile_cont(0.95) WITHIN GROUP (ORDER BY duration))::float8 AS p95_seconds
FROM (
    -- The highest threshold at or below the stage's progress ($2 is in ascending order).
    SELECT ($2::integer[])[width_bucket(s.progress, $2::integer[])] AS threshold, s.duration
    FROM stage_durations_since($1) AS s
    WHERE s.duration IS NOT NULL
) AS finished
GROUP BY threshold
ORDER BY threshold;

-- name: report_agents idempotent
SELECT agent, jobs_done, jobs_failed, lost_leases, extract(epoch FROM mean_export_time)::float8 AS mean_export_seconds,
       last_seen_at
FROM agent_stats_since($1)
ORDER BY agent;

-- name: report_failures idempotent
SELECT error_message, jobs, last_failed_at
FROM failure_reasons_since($1)
ORDER BY jobs DESC, last_failed_at DESC
LIMIT $2;

-- name: stage_durations_of_attempt idempotent
SELECT stage, progress, extract(epoch FROM duration)::float8 AS seconds
FROM stage_durations
WHERE job_id = $1 AND attempt = $2 AND duration IS NOT NULL;

-- name: ensure_event_partitions
SELECT ensure_job_event_partitions(now(), now() + interval '3 months');

-- name: prune_finished_jobs
-- One batch of retention: finished jobs that ended before $1, with their events (the
-- foreign key cascades). SKIP LOCKED: never waits on anyone. Their stored videos go with
-- the next video store upkeep (videos_in_use), which no crash in between can skip.
DELETE FROM video_jobs
WHERE id IN (
    SELECT id FROM video_jobs
    WHERE status IN ('completed', 'failed') AND completed_at < $1
    ORDER BY completed_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING id;

-- name: droppable_event_partitions
-- Event partitions (job_events_YYYY_MM) that ended before the cutoff $1 and hold no event
-- of a job we keep. A kept job (active, or finished since the cutoff) has events only in
-- months it existed in, so it was created before the partition ended. The end is read
-- from the partition's own bounds, not its name. Each partition listed goes with one DROP
-- instead of row-by-row deletes.
SELECT format('%I.%I', n.nspname, c.relname) AS partition
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
    SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS ends
) AS bounds
WHERE i.inhparent = 'job_events'::regclass
  AND c.relname ~ '^job_events_[0-9]{4}_[0-9]{2}$'
  AND bounds.ends <= $1
  AND NOT EXISTS (SELECT FROM video_jobs WHERE status IN ('pending', 'processing') AND created_at < bounds.ends)
  AND NOT EXISTS (SELECT FROM video_jobs WHERE status IN ('completed', 'failed') AND completed_at >= $1
                                           AND created_at < bounds.ends)
ORDER BY c.relname;

-- name: schema_revision idempotent
SELECT version_num FROM alembic_version;

-- name: invariant_violations idempotent
SELECT invariant, job_id, detail FROM invariant_violations($1::text[], make_interval(secs => $2)) ORDER BY 1, 2;
