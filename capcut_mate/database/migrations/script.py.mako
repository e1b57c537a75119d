"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from capcut_mate.database.migrations import executing

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}

# Forward-only: no downgrade. Bring capcut_mate/database/schema.sql to the same result.
UPGRADE = [
]

upgrade = executing(UPGRADE)
