"""The contract documents (docs/spec/), read by the tests that hold the service to them.

docs/spec/ is the repository's one copy; test_spec_copies.py also compares it with a
shared spec folder beside the checkout, where the project keeps one (../shared/spec/).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SPEC_DIR = Path(__file__).resolve().parents[2] / "docs" / "spec"
SHARED_SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "spec"


def spec_text(name: str) -> str:
    return (SPEC_DIR / name).read_text(encoding="utf-8")


def code_blocks(name: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", spec_text(name), flags=re.S)


def status_examples() -> dict[str, dict]:
    """gen_video_status.md's success examples, by status."""
    examples = {}
    for block in code_blocks("gen_video_status.md", "json"):
        body = json.loads(block)
        if "status" in body:
            examples[body["status"]] = body
    return examples


def python_polling_example() -> str:
    (example,) = code_blocks("gen_video_status.md", "python")
    return example
