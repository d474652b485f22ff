"""Write a run's outputs: CSVs and run.json, each atomically, then point `latest` at the run."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pipeline.records import Alignment, Reject, Sentence
from pipeline.statements import Statement, coverage_matrix

SENTENCE_COLUMNS = (
    "article",
    "source",
    "position",
    "lang",
    "original",
    "english",
    "english_origin",
)
ALIGNMENT_COLUMNS = (
    "article_a", "position_a", "lang_a", "text_a", "english_a",
    "article_b", "position_b", "lang_b", "text_b", "english_b",
    "cosine", "margin", "only_in_a", "only_in_b", "method",
)  # fmt: skip
STATEMENT_COLUMNS = (
    "group", "article", "source", "lang", "position", "original", "english", "representative",
)  # fmt: skip
UNIQUE_COLUMNS = ("source", "article", "position", "lang", "original", "english")
SPAN_SEPARATOR = " | "
REJECT_COLUMNS = ("input", "reason")


class ExportError(OSError):
    """Outputs could not be written (disk full, permissions); `latest` was left as it was."""


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Apostrophes before a formula character get one more too, so that stripping one leading
# apostrophe from such cells always gives the original text back ("'=x" is written "''=x").
_NEEDS_APOSTROPHE = re.compile(r"'*[=+\-@\t\r]")
_RISKY_FIRST = frozenset("'" + "".join(FORMULA_PREFIXES))  # cheap test before the pattern


def neutralise(cell: Any) -> Any:
    """Prefix a text cell a spreadsheet would execute with an apostrophe; numbers pass."""
    if isinstance(cell, str) and cell[:1] in _RISKY_FIRST and _NEEDS_APOSTROPHE.match(cell):
        return "'" + cell
    return cell


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([neutralise(cell) for cell in columns])  # coverage.csv's come from sources
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder, fsync, then rename over `path`."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def sentence_rows(sentences: Iterable[Sentence]) -> Iterable[tuple]:
    for s in sentences:
        yield (s.article_id, s.source, s.position, s.lang, s.text, s.english, s.english_origin)


def alignment_rows(alignments: Iterable[Alignment]) -> Iterable[tuple]:
    for pair in alignments:
        a, b = pair.a, pair.b
        yield (
            a.article_id, a.position, a.lang, a.text, a.english,
            b.article_id, b.position, b.lang, b.text, b.english,
            f"{pair.cosine:.4f}", f"{pair.margin:.4f}",
            SPAN_SEPARATOR.join(pair.only_in_a), SPAN_SEPARATOR.join(pair.only_in_b), pair.method,
        )  # fmt: skip


def statement_rows(statements: Iterable[Statement]) -> Iterable[tuple]:
    for statement in statements:
        for m in statement.members:
            yield (
                statement.id, m.article_id, m.source, m.lang, m.position, m.text, m.english,
                statement.representative,
            )  # fmt: skip


def coverage_csv(statements: list[Statement]) -> str:
    sources = sorted({source for statement in statements for source in statement.sources})
    rows = coverage_matrix(statements, sources)
    return csv_text(("group", "statement", *sources), ([row[c] for c in row] for row in rows))


def write_run(
    output_dir: Path,
    run_id: str,
    sentences: list[Sentence],
    alignments: list[Alignment],
    statements: list[Statement],
    unique: list[Sentence],
    rejects: list[Reject],
    run_info: dict[str, Any],
) -> Path:
    """Write OUTPUT/<run_id>/ and repoint OUTPUT/latest; returns the run folder.

    Files go to a hidden staging folder first, which is renamed into place only when all are
    written, so neither a run folder nor `latest` is ever seen half-written.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = output_dir / f".{run_id}.partial"
    files = {
        "sentences.csv": csv_text(SENTENCE_COLUMNS, sentence_rows(sentences)),
        "alignments.csv": csv_text(ALIGNMENT_COLUMNS, alignment_rows(alignments)),
        "statements.csv": csv_text(STATEMENT_COLUMNS, statement_rows(statements)),
        "coverage.csv": coverage_csv(statements),
        "unique.csv": csv_text(
            UNIQUE_COLUMNS,
            ((s.source, s.article_id, s.position, s.lang, s.text, s.english) for s in unique),
        ),
        "rejects.csv": csv_text(REJECT_COLUMNS, ((r.input, r.reason) for r in rejects)),
        "run.json": json.dumps(run_info, indent=2, ensure_ascii=False) + "\n",
    }
    try:
        for stale in output_dir.glob(
            ".*.partial"
        ):  # left by a killed run; the lock keeps out live ones
            shutil.rmtree(stale, ignore_errors=True)
        staging.mkdir()
        for name, text in files.items():
            write_atomic(staging / name, text)
        run_dir = output_dir / run_id
        os.replace(staging, run_dir)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(
            f"could not write the outputs to {output_dir} ({error.strerror or error}); "
            "the previous `latest` run is unchanged"
        ) from error
    point_latest(output_dir, run_id)
    return run_dir


def point_latest(output_dir: Path, run_id: str) -> None:
    """Atomically repoint the `latest` symlink (relative, so the folder can move)."""
    temporary = output_dir / ".latest.tmp"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(run_id, target_is_directory=True)
    os.replace(temporary, output_dir / "latest")
