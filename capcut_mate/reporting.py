"""The figures of `capcut-mate report` and GET /api/v1/report: built from the reporting
functions in the database, rendered as terminal tables, CSV or JSON."""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import datetime

import orjson

from capcut_mate.database.store import Store
from capcut_mate.protocol.jobs import STAGES, format_timestamp
from capcut_mate.protocol.operations import (
    AgentStatsRow,
    FailureRow,
    JobsReportRow,
    Report,
    StageRow,
    ThroughputRow,
)

# Report section: (its row model, its title in the terminal).
SECTIONS = {
    "jobs": (JobsReportRow, "Jobs created in the window, by status (seconds)"),
    "throughput": (ThroughputRow, "Per hour (UTC)"),
    "stages": (StageRow, "Time in each stage (seconds)"),
    "agents": (AgentStatsRow, "Agents"),
    "failures": (FailureRow, "Failure reasons"),
}


async def build_report(store: Store, since: datetime) -> Report:
    figures = await store.report(since)
    return Report(
        since=format_timestamp(since),
        jobs=[JobsReportRow(**row) for row in figures["jobs"]],
        throughput=[ThroughputRow(**{**row, "hour": format_timestamp(row["hour"])}) for row in figures["throughput"]],
        stages=[
            StageRow(stage=STAGES[row["threshold"]], progress=row["threshold"], samples=row["samples"],
                     mean_seconds=row["mean_seconds"], p50_seconds=row["p50_seconds"],
                     p95_seconds=row["p95_seconds"])
            for row in figures["stages"]
        ],
        agents=[AgentStatsRow(**{**row, "last_seen_at": format_timestamp(row["last_seen_at"])})
                for row in figures["agents"]],
        failures=[FailureRow(**{**row, "last_failed_at": format_timestamp(row["last_failed_at"])})
                  for row in figures["failures"]],
    )


def _width(text: str) -> int:
    """Columns a terminal gives the text: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _rows(report: Report, section: str) -> tuple[list[str], list[list[str]]]:
    fields = list(SECTIONS[section][0].model_fields)
    return fields, [[_cell(getattr(row, name)) for name in fields] for row in getattr(report, section)]


def render(report: Report, style: str, section: str | None = None) -> str:
    """The report as a terminal table, JSON, or CSV; `section` keeps one section only. CSV
    is one section, a header row and its rows: one loadable table."""
    sections = [section] if section else list(SECTIONS)
    if style == "json":
        body = report.model_dump(mode="json", include={"since", *sections})
        return orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
    out = io.StringIO()
    if style == "csv":
        if section is None:
            raise ValueError("CSV is one table: name its section")
        fields, rows = _rows(report, section)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(fields)
        writer.writerows(rows)
        return out.getvalue()
    out.write(f"Since {report.since}\n")
    for section, (_, title) in ((name, SECTIONS[name]) for name in sections):
        fields, rows = _rows(report, section)
        out.write(f"\n{title}\n")
        if not rows:
            out.write("  (none)\n")
            continue
        widths = [max(_width(cell) for cell in column) for column in zip(fields, *rows)]
        for row in [fields, *rows]:
            cells = (cell + " " * (width - _width(cell)) for cell, width in zip(row, widths))
            out.write("  " + "  ".join(cells).rstrip() + "\n")
    return out.getvalue()
