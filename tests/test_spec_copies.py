"""docs/spec/ holds the contract documents; where a shared spec folder sits beside the
checkout (the project's own layout), the two must agree."""

import pytest

from support.spec import SHARED_SPEC_DIR, SPEC_DIR


@pytest.mark.parametrize("name", ["CONTRACT.md", "gen_video_status.md", "AGENT_PROTOCOL.md"])
def test_copy_matches_shared_spec(name: str):
    shared = SHARED_SPEC_DIR / name
    if not shared.exists():
        pytest.skip(f"no shared spec beside this checkout ({SHARED_SPEC_DIR}); docs/spec/ is all there is")
    assert (SPEC_DIR / name).read_text(encoding="utf-8") == shared.read_text(encoding="utf-8"), (
        f"docs/spec/{name} drifted from the shared spec: copy the new one in and follow its changes"
    )
