"""The validation report of one import: one line per problem with a row, the record, and why.

A person fixes a shapefile from this table, so every line names the row number as the file
counts it (features from 1, spreadsheet lines as a spreadsheet shows them), the record's own code
(never a plain ID number: people are named by the masked form), the field, and a sentence.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InvalidInput

REJECTED = "rejected"   # the row cannot be stored; the whole import is refused
REPAIRED = "repaired"   # the row was changed to make it storable (said what was done)
WARNING = "warning"     # stored as given, but worth a look
REVIEW = "review"       # stored, waiting for a person (e.g. a low-score address match)
SKIPPED = "skipped"     # not written, by design (an OSM feature outside the jurisdiction …), said so

COLUMNS = ("row", "record", "field", "status", "reason")


@dataclass(frozen=True)
class Problem:
    row: int
    record: str
    field: str
    status: str
    reason: str


@dataclass
class Report:
    """Problems, counts and a summary of one import (dry-run or real)."""

    kind: str
    source: str
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def add(self, row: int, record: str, field_: str, status: str, reason: str) -> None:
        self.problems.append(Problem(row, record, field_, status, reason))

    def reject(self, row: int, record: str, field_: str, reason: str) -> None:
        self.add(row, record, field_, REJECTED, reason)

    @property
    def rejected_rows(self) -> set[int]:
        return {p.row for p in self.problems if p.status == REJECTED}

    @property
    def ok(self) -> bool:
        return not self.rejected_rows

    def count(self, status: str) -> int:
        return sum(1 for p in self.problems if p.status == status)

    def to_csv(self, path: Path | str | None = None) -> str:
        """The table as CSV (UTF-8 with BOM so Excel shows the Chinese text); written to ``path`` if given."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(COLUMNS)
        for p in sorted(self.problems, key=lambda p: (p.row, p.status)):
            writer.writerow([p.row, p.record, p.field, p.status, p.reason])
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text("\ufeff" + text, encoding="utf-8")
        return text

    def headline(self) -> str:
        rejected = len(self.rejected_rows)
        return (
            f"{self.kind} from {self.source}: {self.rows} rows, {rejected} rejected, "
            f"{self.count(REPAIRED)} repaired, {self.count(WARNING)} warnings, {self.count(REVIEW)} for review"
            + (f", {self.count(SKIPPED)} skipped" if self.count(SKIPPED) else "")
        )


class ImportRefused(InvalidInput):
    """The import was refused as a whole because at least one row was rejected; nothing was written."""

    def __init__(self, report: Report) -> None:
        first = [p for p in report.problems if p.status == REJECTED][:3]
        examples = "; ".join(f"row {p.row} ({p.record}): {p.reason}" for p in first)
        super().__init__(
            f"import refused, nothing written: {len(report.rejected_rows)} of {report.rows} rows rejected. "
            f"First: {examples}",
            record=f"{report.kind} {report.source}",
        )
        self.report = report
