"""Faults and intruders, round two (issue 14): what the schema needs for three of them.

- `last_message` may hold as much as `video_url` (4,096 characters): a `complete` copies
  its video URL there, and a URL the protocol allows must never fail the job.
- gen_video_status finds a draft's newest job through an index that serves both the
  match and the newest-first order, `(draft_digest(…), id)`, so the plan is right with
  or without fresh statistics (the hash indexes cannot give an order: with the table
  never analysed, the planner walked the primary key backwards through every newer row).
- `client_rate_buckets`: the client rate limit's token buckets, shared by every process
  of a service (`serve --workers N`). UNLOGGED: after a crash the buckets start full;
  maintenance removes the buckets that are full anyway.

Small statements; the two indexes are built with the table locked against writes for
as long as building them takes (seconds for a million jobs).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from capcut_mate.database.migrations import executing

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    ALTER TABLE capcut_mate.video_jobs
        DROP CONSTRAINT video_jobs_last_message_check,
        ADD CONSTRAINT video_jobs_last_message_check CHECK (char_length(last_message) <= 4096)
    """,
    """
    CREATE INDEX video_jobs_newest_by_draft_url
        ON capcut_mate.video_jobs (capcut_mate.draft_digest(draft_url), id)
    """,
    """
    CREATE INDEX video_jobs_newest_by_draft_key
        ON capcut_mate.video_jobs (capcut_mate.draft_digest(draft_key), id)
    """,
    """
    CREATE UNLOGGED TABLE capcut_mate.client_rate_buckets (
        address text PRIMARY KEY,
        -- The bucket as one moment (GCRA): a request may go while this is at most
        -- (burst - 1) / rate seconds ahead of now; each request moves it 1 / rate on.
        tat     timestamptz NOT NULL
    ) WITH (fillfactor = 50)  -- room on each page so updates stay HOT
    """,
]


upgrade = executing(UPGRADE)
