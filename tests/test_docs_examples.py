"""Every SQL example in docs/ runs against the current schema, so the docs stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from capcut_mate.protocol.jobs import JobStatus
from support.drive import drive

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXAMPLES = [
    pytest.param(sql, id=f"{path.name}:{n}")
    for path in sorted(DOCS.glob("*.md"))
    for n, sql in enumerate(re.findall(r"```sql\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S))
]


def test_the_docs_have_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("sql", EXAMPLES)
async def test_example_runs(store, sql):
    await drive(store, "https://d.example.com/get_draft?draft_id=2025092811473036584258", JobStatus.COMPLETED)
    await store.pool.fetch(sql)
