"""An attempt belongs to the token that claimed it (issue 14, item 13).

An agent's identity is its token, not its name: a name revoked and added again, or given a
new token, is another agent. `video_jobs.agent_token_id` records the token id of the claim
that started the running attempt; every write for the attempt (progress, complete, fail,
upload) is fenced on it, so an agent added later under the same name never writes for an
attempt the old token started.

Attempts running during the upgrade get their agent's current token, if it is still live;
the others match no token, so their writes are refused and the lease reaper requeues them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from capcut_mate.database.migrations import executing

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = [
    "ALTER TABLE capcut_mate.video_jobs ADD COLUMN agent_token_id text",
    """
    UPDATE capcut_mate.video_jobs AS j
    SET agent_token_id = a.token_id
    FROM capcut_mate.agents AS a
    WHERE j.status = 'processing' AND a.name = j.agent AND a.revoked_at IS NULL
    """,
]


upgrade = executing(UPGRADE)
