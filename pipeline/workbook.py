"""report.xlsx: the tables of a run's report, a sheet each, for spreadsheet users.

A CSV opened in Excel is read in the machine's legacy code page, which garbles Cyrillic; an
.xlsx file is always Unicode. The CSVs stay the contract: the workbook holds the rows of the
stories the report shows (pipeline/report.py), so it costs the same whatever the corpus holds.
The raw material of those stories (their sentences and sentence pairs) is cut at MAX_RAW_ROWS
rows a sheet, the sheet saying so: a story of a thousand articles holds tens of thousands of
pairs, and XlsxWriter writes about 100,000 cells a second. Written with XlsxWriter.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pipeline.export import (
    FORMULA_PREFIXES,
    changed_since_written,
    plain_cell,
    read_row_index,
    table_rows,
)
from pipeline.files import atomic_file

WORKBOOK_FILE = "report.xlsx"
# Sheets in this order; each is the table of the same name, its rows those of the shown
# stories (and of their articles), every row for stories.csv and rejects.csv.
SHEETS = (
    "stories", "statements", "coverage", "unique", "articles", "sentences", "alignments", "rejects"
)  # fmt: skip
RAW_SHEETS = ("sentences", "alignments")
MAX_RAW_ROWS = 500  # per raw sheet: XlsxWriter takes about 0.1 s for 500 rows of alignments
# Columns written as numbers; every other cell is text, never a formula.
NUMERIC_COLUMNS = frozenset(
    {"articles", "sentences", "position", "position_a", "position_b", "cosine", "margin"}
    | {"lag_hours", "unchecked"}
)
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
MAX_CELL_CHARS = 32767  # Excel's limit
# strings_to_formulas off: write_string is used throughout, this is a second guard.
OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "constant_memory": True}


def write_workbook(
    run_dir: Path,
    tables: Mapping[str, list[dict[str, str]]],
    statements: Collection[str],
    path: Path | None = None,
    index: Mapping[str, Any] | None = None,
) -> Path:
    """Write run_dir/report.xlsx (or `path`): a sheet per table of SHEETS, from the rows the
    report read (`tables`: pipeline.report.read_tables()): stories whole, the shown stories'
    unique sentences and articles, their `statements` (the shown ones' ids) and those
    statements' coverage; the sentences of those stories' articles and their sentence pairs
    (alignments.csv), newest story first, at most MAX_RAW_ROWS each, read by the byte ranges
    of the run's row index (`index`, else read from the folder); rejects.csv whole. Text
    that a spreadsheet would run as a formula (=, +, -, @ first) is a text cell with Excel's
    quote prefix, the .xlsx form of the CSVs' leading apostrophe. Returns the path.

    Raises OSError (a table is missing, or the file cannot be written), ValueError (a table
    is not UTF-8)."""
    import xlsxwriter

    path = path or run_dir / WORKBOOK_FILE
    shown = [row["story"] for row in tables["shown"]]  # newest first
    order = {story: n for n, story in enumerate(shown)}
    articles = [row for row in tables["articles"] if row["story"] in order]
    articles.sort(key=lambda row: order[row["story"]])
    if index is None:
        index = read_row_index(run_dir)
    # Ids as the index keys them: a cell read back may carry the CSVs' quote prefix.
    article_ids = [plain_cell(row["article"]) for row in articles]
    sentences, sentences_cut = _first_rows(run_dir, "sentences.csv", article_ids, index)
    alignments, alignments_cut = _first_rows(run_dir, "alignments.csv", shown, index)
    cut = {"sentences": sentences_cut, "alignments": alignments_cut}
    rows = {
        "stories": tables["stories"],
        "articles": articles,
        "sentences": sentences,
        "alignments": alignments,
        "rejects": table_rows(run_dir, "rejects.csv", columns=("input", "reason")),
        "unique": tables["unique"],
        **{
            name: [row for row in tables[name] if row["group"] in statements]
            for name in ("statements", "coverage")
        },
    }
    # Into a temporary file renamed over `path`: a workbook is never seen half-written, and
    # a path that cannot be written is an OSError (XlsxWriter's own error is none).
    with atomic_file(path, binary=True) as handle:
        _write_sheets(xlsxwriter.Workbook(handle, OPTIONS), run_dir, rows, cut)
    return path


def _write_sheets(
    workbook: Any, run_dir: Path, rows: Mapping[str, list[dict[str, str]]], cut: Mapping[str, bool]
) -> None:
    try:
        header = workbook.add_format({"bold": True, "bg_color": "#eef0f3"})
        quoted = workbook.add_format({"quote_prefix": True})
        for name in SHEETS:
            sheet = workbook.add_worksheet(name)
            columns = _columns(run_dir / f"{name}.csv", rows[name])
            if cut.get(name):
                note = f"The first {MAX_RAW_ROWS:,} rows of the report's stories ({name}.csv: all)"
                sheet.write_string(0, len(columns) + 1, note, header)
            # Coverage has a column per source after story, group and statement: counts.
            numeric = {*NUMERIC_COLUMNS, *(columns[3:] if name == "coverage" else ())}
            for column, title in enumerate(columns):
                sheet.write_string(0, column, plain_cell(title), header)
            for number, row in enumerate(rows[name], start=1):
                for column, title in enumerate(columns):
                    cell = row.get(title) or ""
                    _write_cell(sheet, number, column, title in numeric, cell, quoted)
            sheet.freeze_panes(1, 0)
            sheet.autofilter(0, 0, len(rows[name]), max(len(columns) - 1, 0))
            sheet.set_column(0, max(len(columns) - 1, 0), 24)
    finally:
        workbook.close()


def _first_rows(
    run_dir: Path, name: str, groups: list[str], index: Mapping[str, Any]
) -> tuple[list[dict[str, str]], bool]:
    """The rows of `groups` (ids, in this order) in table `name`, at most MAX_RAW_ROWS, read
    group by group by the byte ranges of the row `index`, so a large story is not read whole;
    and whether rows were left out. A table without byte ranges that hold (no row index, or
    changed since written) is read once, whole."""
    rows: list[dict[str, str]] = []
    if isinstance(index.get(name), dict) and not changed_since_written(run_dir / name, index):
        for group in groups:
            rows += table_rows(run_dir, name, [group], index)
            if len(rows) > MAX_RAW_ROWS:
                break
    else:
        position = {group: n for n, group in enumerate(groups)}
        key = "article" if name == "sentences.csv" else "story"
        rows = table_rows(run_dir, name, position, index)
        rows.sort(key=lambda row: position[plain_cell(row[key])])
    return rows[:MAX_RAW_ROWS], len(rows) > MAX_RAW_ROWS


def _columns(table: Path, rows: list[dict[str, str]]) -> list[str]:
    """The table's columns, from its header (also when no row is shown)."""
    if rows:
        return list(rows[0])
    with table.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


def _write_cell(sheet: Any, row: int, column: int, numeric: bool, cell: str, quoted: Any) -> None:
    text = plain_cell(cell)[:MAX_CELL_CHARS]
    if not text:
        return  # a blank cell, not an empty string
    if numeric and _NUMBER.fullmatch(text):
        sheet.write_number(row, column, float(text))
    elif text.startswith(FORMULA_PREFIXES):
        sheet.write_string(row, column, text, quoted)
    else:
        sheet.write_string(row, column, text)
