"""Checks for the schemathesis command of tests/test_fuzz.py, loaded through
SCHEMATHESIS_HOOKS: two of schemathesis's own, each but for one answer that is right
although it looks wrong from the document alone. The command runs them in place of the
originals (--exclude-checks)."""

from __future__ import annotations

import schemathesis
from schemathesis.specs.openapi.checks import ensure_resource_availability, positive_data_acceptance

REPLACED = "positive_data_acceptance,ensure_resource_availability"


@schemathesis.check
def positive_data_accepted_unless_the_job_says_no(ctx, response, case):
    """A progress below the job's current one is 400 PROGRESS_REGRESSION (AGENT_PROTOCOL.md;
    the document lists it): a fact of the job's state, which no schema can express. Every
    other 400 to a schema-valid request is still a failure."""
    if case.operation.path.endswith("/progress") and response.status_code == 400:
        if response.json().get("error", {}).get("code") == "PROGRESS_REGRESSION":
            return None
    return positive_data_acceptance(ctx, response, case)


@schemathesis.check
def created_resources_are_found_but_direct_uploads(ctx, response, case):
    """The service's own video folder takes no direct uploads: POST …/video/direct answers
    200 with no upload (name and upload_id null, docs/agents.md), so an abort or complete
    after it finds nothing, rightly 404. Schemathesis reads that 200 as a resource created
    below the path. tests/test_s3_video_store.py tests a store that takes direct uploads."""
    if case.operation.path.endswith(("/video/direct/abort", "/video/direct/complete")):
        return None
    return ensure_resource_availability(ctx, response, case)
