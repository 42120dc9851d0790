"""A spreadsheet of contacts becomes the tasks of a campaign plan: pure, no I/O.

Columns (header row, any order, case and spaces ignored; only `phone_number` is required,
and `objective` unless the upload gives one for every row):

    phone_number, contact_name, objective, context, success_criteria, max_attempts,
    priority, time_zone, window_start, window_end, window_days

Rows are numbered as a spreadsheet shows them: the header is row 1, the first contact
row 2. Cells are passed on as text, and the plan check the chat's plans go through
(task_manager/plan_check.py) judges them, so a row is refused here only for what is
wrong with the file itself (a cell past the header, a NUL). UTF-8 (a byte-order mark is
fine), separated by commas, semicolons or tabs, as spreadsheets export CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

COLUMNS = (
    "phone_number", "contact_name", "objective", "context", "success_criteria",
    "max_attempts", "priority", "time_zone", "window_start", "window_end", "window_days",
)  # fmt: skip
WINDOW = {"window_start": "start", "window_end": "end", "window_days": "days"}
MAX_ROWS = 5000  # a campaign's most tasks (task_manager/orchestrator.py)
FIRST_ROW = 2  # the header is row 1
HELP = (
    "A header row names the columns (any order; case and spaces ignored): "
    + ", ".join(COLUMNS)
    + ". phone_number is required, and objective unless the objective form field gives one "
    "for every row; window_start/window_end are HH:MM in the callee's time, window_days "
    "mon,tue,... UTF-8, comma, semicolon or tab separated. Rows are numbered as a "
    f"spreadsheet shows them (the header is row 1); at most {MAX_ROWS} rows."
)


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int
    column: str  # "" when the whole row is wrong
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column or None, "message": self.message}


@dataclass(frozen=True, slots=True)
class CsvRow:
    row: int
    task: dict[str, Any]  # a plan's task, its values still text


class CsvRefused(ValueError):
    """The file as a whole cannot be read as contacts (the message says why)."""


def read_contacts(data: bytes, objective: str = "") -> tuple[list[CsvRow], list[RowProblem]]:
    """The rows as tasks, and the rows wrong in themselves; `objective` fills empty cells."""
    records = _records(_text(data))
    header = _header(next(records, None), objective)
    rows: list[CsvRow] = []
    problems: list[RowProblem] = []
    for number, cells in enumerate(records, start=FIRST_ROW):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if len(rows) + len(problems) >= MAX_ROWS:
            raise CsvRefused(f"the file has more than {MAX_ROWS} contacts (one campaign's most)")
        wrong = _row_problem(number, header, cells)
        if wrong is not None:
            problems.append(wrong)
            continue
        rows.append(CsvRow(number, _task(dict(zip(header, cells, strict=False)), objective)))
    if not rows and not problems:
        raise CsvRefused("the file has a header but no contacts")
    return rows, problems


def column_of(field: str) -> str:
    """The CSV column a plan problem's field came from ("window.start" → window_start)."""
    return field.replace(".", "_")


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvRefused(
            "the file is not UTF-8 text; save it as CSV UTF-8 (comma delimited)"
        ) from None


def _records(text: str) -> Iterator[list[str]]:
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        return iter(list(reader))
    except csv.Error as exc:
        raise CsvRefused(f"the file is not valid CSV at line {reader.line_num}: {exc}") from None


def _header(cells: list[str] | None, objective: str) -> list[str]:
    if not cells or not any(c.strip() for c in cells):
        raise CsvRefused("the file is empty; its first row must name the columns")
    header = [c.strip().lower().replace(" ", "_") for c in cells]
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise CsvRefused(
            f"unknown column(s): {', '.join(unknown)}; the columns are {', '.join(COLUMNS)}"
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise CsvRefused(f"column(s) named twice: {', '.join(duplicated)}")
    missing = [c for c in ("phone_number", "objective") if c not in header]
    if missing == ["objective"] and objective.strip():
        missing = []
    if missing:
        raise CsvRefused(f"missing column(s): {', '.join(missing)}")
    return header


def _row_problem(number: int, header: list[str], cells: list[str]) -> RowProblem | None:
    if len(cells) > len(header):
        return RowProblem(number, "", f"has {len(cells)} cells but the header names {len(header)}")
    for name, cell in zip(header, cells, strict=False):
        if "\x00" in cell:
            return RowProblem(number, name, "contains a NUL character")
    return None


def _task(cells: dict[str, str], objective: str) -> dict[str, Any]:
    task: dict[str, Any] = {}
    window: dict[str, str] = {}
    for name, raw in cells.items():
        value = raw.strip()
        if not value:
            continue
        if name in WINDOW:
            window[WINDOW[name]] = value
        else:
            task[name] = value
    if "objective" not in task and objective.strip():
        task["objective"] = objective.strip()
    if window:
        task["window"] = window
    return task
