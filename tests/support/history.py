"""Stage durations read from a job history in Python, straight from the event order: the
independent reading that the database's stage_durations and its stage-ending columns are
checked against (tests/test_reporting.py, and the benchmark history in
tests/test_benchmarks.py)."""

from __future__ import annotations


def expected_stage_durations(events) -> set[tuple]:
    """A row per visit of a stage: a run of consecutive events of a running attempt in one
    stage, from its first event to the event after it (None while it lasts)."""
    rows = set()
    for timeline in events.values():
        visit = None
        for event in timeline + [None]:
            same = visit is not None and event is not None and all(
                event[k] == visit[0][k] for k in ("to_status", "stage", "attempt"))
            if visit is not None and not same:
                first = visit[0]
                left = event["at"] if event is not None else None
                rows.add((first["job_id"], first["attempt"], first["agent"], first["stage"], first["progress"],
                          first["at"], left, left - first["at"] if left else None))
                visit = None
            if event is not None and event["to_status"] == "processing":
                visit = visit if same else [event]
    return rows


def expected_stage_endings(events) -> dict[int, tuple]:
    """Per event: the stage it takes its job out of, with that stage's first progress and
    start, as (left_stage, left_stage_progress, left_stage_entered_at); Nones if none."""
    endings = {}
    for timeline in events.values():
        before, began = None, None
        for event in timeline:
            starts = before is None or any(event[k] != before[k] for k in ("to_status", "stage", "attempt"))
            ends = starts and before is not None and before["to_status"] == "processing"
            endings[event["id"]] = (before["stage"], *began) if ends else (None, None, None)
            if starts:
                began = (event["progress"], event["at"])
            before = event
    return endings


def recorded_stage_endings(events) -> dict[int, tuple]:
    return {
        event["id"]: (event["left_stage"], event["left_stage_progress"], event["left_stage_entered_at"])
        for timeline in events.values() for event in timeline
    }
