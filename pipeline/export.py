"""Write a run's outputs: CSVs and run.json, each atomically, then point `latest` at the run."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from pipeline.records import Alignment, Article, Reject, Sentence
from pipeline.statements import (
    Statement,
    UniqueSentence,
    carriers_in_order,
    coverage_matrix,
    lag_hours,
)
from pipeline.stories import Story, parse_published

SENTENCE_COLUMNS = (
    "article",
    "source",
    "position",
    "lang",
    "original",
    "english",
    "english_origin",
    "boilerplate",
)
ALIGNMENT_COLUMNS = (
    "article_a", "position_a", "lang_a", "text_a", "english_a",
    "article_b", "position_b", "lang_b", "text_b", "english_b",
    "cosine", "margin", "only_in_a", "only_in_b", "method", "relation", "story",
)  # fmt: skip
STATEMENT_COLUMNS = (
    "group", "article", "source", "lang", "position", "original", "english", "representative",
    "story", "first_source", "first_published", "lag_hours",
)  # fmt: skip
UNIQUE_COLUMNS = (
    "source", "article", "position", "lang", "original", "english", "unchecked", "story",
)  # fmt: skip
REJECT_COLUMNS = ("input", "reason")
ARTICLE_COLUMNS = ("article", "source", "url", "title", "published", "lang", "sentences", "story")
STORY_COLUMNS = (
    "story", "title", "first_published", "last_published", "articles", "sources", "languages",
    "first_source", "later_sources",
)  # fmt: skip


# A run folder is open to its owner and group, never to every user of the machine: the tables
# quote the articles. Files inside are made with the user's umask.
RUN_FOLDER_MODE = 0o750


class ExportError(OSError):
    """Outputs could not be written (disk full, permissions); `latest` was left as it was."""


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Apostrophes before a formula character get one more too, so that stripping one leading
# apostrophe from such cells always gives the original text back ("'=x" is written "''=x").
_NEEDS_APOSTROPHE = re.compile(r"'*[=+\-@\t\r]")
_RISKY_FIRST = frozenset("'" + "".join(FORMULA_PREFIXES))  # cheap test before the pattern


def plain_cell(cell: str) -> str:
    """Undo the spreadsheet neutralisation of neutralise_row ('=x' was written as "'=x")."""
    return cell[1:] if cell.startswith("'") and _NEEDS_APOSTROPHE.match(cell, 1) else cell


def neutralise_row(row: Sequence[Any]) -> list[Any]:
    """Prefix each text cell a spreadsheet would execute with an apostrophe; numbers pass.

    One comprehension per row rather than a call per cell: alignments.csv has millions.
    """
    return [
        "'" + cell
        if isinstance(cell, str) and cell[:1] in _RISKY_FIRST and _NEEDS_APOSTROPHE.match(cell)
        else cell
        for cell in row
    ]


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[TextIO]:
    """A text handle on a temporary file in the same folder, fsynced and renamed over `path`
    when the block completes, so `path` is never seen half-written."""
    temporary = path.with_name(f".{path.name}.tmp")
    # Never through a link planted at the temporary name; the mode is left to the umask.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
    with open(fd, "w", encoding="utf-8", newline="") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Stream `rows` to `path` (atomically): memory does not grow with the file. Every table
    is written by _csv_line, which quotes a lone carriage return (csv.writer does not)."""
    with atomic_file(path) as handle:
        handle.write(_csv_line(columns) + "\n")  # coverage.csv's come from sources
        handle.writelines(_csv_line(row) + "\n" for row in rows)


def sentence_rows(sentences: Iterable[Sentence]) -> Iterable[tuple]:
    for s in sentences:
        yield (
            s.article_id, s.source, s.position, s.lang, s.text, s.english, s.english_origin,
            "true" if s.boilerplate else "false",
        )  # fmt: skip


def write_alignments(
    path: Path, alignments: Iterable[Alignment], story_of: dict[str, str] | None = None
) -> None:
    """alignments.csv, streamed like write_csv.

    It is the largest table by far (300,000 rows at 1,000 synthetic articles), and each
    sentence is in many of its rows: each sentence's five cells are neutralised and encoded
    once, and a row joins two such encodings with its own five cells.
    """
    encoded: dict[tuple[str, int], str] = {}

    def side(s: Sentence) -> str:
        key = (s.article_id, s.position)
        if key not in encoded:
            encoded[key] = _csv_line((s.article_id, s.position, s.lang, s.text, s.english))
        return encoded[key]

    story_of = story_of or {}
    with atomic_file(path) as handle:
        handle.write(_csv_line(ALIGNMENT_COLUMNS) + "\n")
        for x in alignments:
            own = (
                f"{x.cosine:.4f}", f"{x.margin:.4f}", x.only_in_a, x.only_in_b, x.method,
                x.relation, story_of.get(x.a.article_id, ""),
            )  # fmt: skip
            handle.write(f"{side(x.a)},{side(x.b)},{_csv_line(own)}\n")


# Quoted like csv.writer's default (QUOTE_MINIMAL): a cell holding a delimiter, a quote or a
# line end. A lone carriage return is quoted too, where csv.writer (with "\n" line ends) would
# not: csv.reader and spreadsheets would end the row there.
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def _csv_line(cells: Sequence[Any]) -> str:
    """One CSV row, without the line end; text cells neutralised, None written empty."""
    return ",".join(
        '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES.search(text) else text
        for text in ("" if cell is None else str(cell) for cell in neutralise_row(cells))
    )


def statement_rows(
    statements: Iterable[Statement],
    published: Mapping[str, datetime | None],
    stated: Mapping[str, str] | None = None,
) -> Iterable[tuple]:
    """A row per member, first carrier first, with the statement's provenance: the source
    that carried it first, when (as its article states it: `stated`, article id -> text), and
    how many hours later each member's article came."""
    stated = stated or {}
    for statement in statements:
        members = carriers_in_order(statement, published)
        first = members[0]
        for m in members:
            lag = lag_hours(m.article_id, first.article_id, published)
            yield (
                statement.id, m.article_id, m.source, m.lang, m.position, m.text, m.english,
                statement.representative, statement.story, first.source,
                stated.get(first.article_id, "") if published.get(first.article_id) else "",
                "" if lag is None else f"{lag:.1f}",
            )  # fmt: skip


def coverage_table(
    statements: list[Statement], story_sources: Mapping[str, Sequence[str]]
) -> tuple[tuple[str, ...], list[list[Any]]]:
    """A row per statement, a column per source: how many of its sentences carry it; empty
    where the source has no article in the statement's story (it could not have carried it),
    0 where it covered the story and left the statement out."""
    sources = sorted({source for statement in statements for source in statement.sources})
    rows = coverage_matrix(statements, sources)
    table = []
    for statement, row in zip(statements, rows, strict=True):
        covered = set(story_sources.get(statement.story, sources))
        table.append(
            [statement.story, row["group"], row["statement"]]
            + [row[source] if source in covered else "" for source in sources]
        )
    return ("story", "group", "statement", *sources), table


def story_rows(
    stories: Iterable[Story],
    source_of: Mapping[str, str],
    published: Mapping[str, datetime | None],
) -> Iterator[tuple]:
    """A row per story, with its provenance: the source of its first article, and for each
    other source how many hours after that its first article came ("(undated)" without a
    date)."""
    for story in stories:
        first = story.articles[0]
        later: dict[str, str] = {}
        for article in story.articles[1:]:
            source = source_of.get(article, "")
            if source == source_of.get(first) or source in later:
                continue
            hours = lag_hours(article, first, published)
            later[source] = "(undated)" if hours is None else f"+{hours:.1f} h"
        yield (
            story.id, story.title, story.first_published, story.last_published,
            len(story.articles), "; ".join(story.sources), "; ".join(story.languages),
            source_of.get(first, ""), "; ".join(f"{s} {lag}" for s, lag in later.items()),
        )  # fmt: skip


def previous_stories(output_dir: Path) -> dict[str, str]:
    """Each article's story in the latest run (OUTPUT/latest/articles.csv): {} when there is
    none, or it is from before stories."""
    rows = _latest_rows(output_dir, "articles.csv", {"article", "story"})
    return {plain_cell(row["article"]): row["story"] for row in rows if row["story"]}


def _latest_rows(output_dir: Path, name: str, columns: set[str]) -> list[dict[str, str]]:
    """The rows of table `name` of the latest run: [] when there is none, or it cannot be
    read (not UTF-8, not CSV) or lacks one of `columns`."""
    try:
        with (output_dir / "latest" / name).open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            return list(reader) if columns <= set(reader.fieldnames or ()) else []
    except (OSError, ValueError, csv.Error):  # ValueError: not UTF-8
        return []


def previous_run_info(output_dir: Path) -> dict[str, Any]:
    """The latest run's run.json (OUTPUT/latest/run.json): {} when there is none or it cannot
    be read."""
    try:
        info = json.loads((output_dir / "latest" / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def previous_statements(output_dir: Path) -> dict[tuple[str, str], str]:
    """Each member sentence's statement in the latest run (OUTPUT/latest/statements.csv), by
    (article id, original text): {} when there is none or it cannot be read."""
    rows = _latest_rows(output_dir, "statements.csv", {"article", "original", "group"})
    return {(plain_cell(row["article"]), plain_cell(row["original"])): row["group"] for row in rows}


def write_run(
    output_dir: Path,
    run_id: str,
    sentences: list[Sentence],
    alignments: list[Alignment],
    statements: list[Statement],
    unique: list[UniqueSentence],
    rejects: list[Reject],
    run_info: dict[str, Any],
    articles: Sequence[Article] = (),
    stories: Sequence[Story] = (),
) -> Path:
    """Write OUTPUT/<run_id>/ and repoint OUTPUT/latest; returns the run folder.

    Files go to a hidden staging folder first, which is renamed into place only when all are
    written, so neither a run folder nor `latest` is ever seen half-written.
    """
    output_dir.mkdir(mode=RUN_FOLDER_MODE, parents=True, exist_ok=True)
    staging = output_dir / f".{run_id}.partial"
    story_of = {article: story.id for story in stories for article in story.articles}
    published = {a.id: parse_published(a.published) for a in articles}
    stated = {a.id: a.published for a in articles}
    source_of = {a.id: a.source for a in articles}
    story_sources = {story.id: story.sources for story in stories}
    # Each table, and how to write it to a path.
    tables: dict[str, Callable[[Path], None]] = {
        "sentences.csv": lambda path: write_csv(path, SENTENCE_COLUMNS, sentence_rows(sentences)),
        "alignments.csv": lambda path: write_alignments(path, alignments, story_of),
        "statements.csv": lambda path: write_csv(
            path, STATEMENT_COLUMNS, statement_rows(statements, published, stated)
        ),
        "coverage.csv": lambda path: write_csv(path, *coverage_table(statements, story_sources)),
        "unique.csv": lambda path: write_csv(
            path,
            UNIQUE_COLUMNS,
            (
                (
                    u.sentence.source,
                    u.sentence.article_id,
                    u.sentence.position,
                    u.sentence.lang,
                    u.sentence.text,
                    u.sentence.english,
                    u.unchecked,
                    story_of.get(u.sentence.article_id, ""),
                )
                for u in unique
            ),  # fmt: skip
        ),
        "rejects.csv": lambda path: write_csv(
            path, REJECT_COLUMNS, ((r.input, r.reason) for r in rejects)
        ),
        "articles.csv": lambda path: write_csv(
            path, ARTICLE_COLUMNS, article_rows(articles, sentences, story_of)
        ),
        "stories.csv": lambda path: write_csv(
            path, STORY_COLUMNS, story_rows(stories, source_of, published)
        ),
    }
    same_tables = previous_tables(output_dir, run_info.get("result_key"), list(tables))
    started = time.perf_counter()
    try:
        # Staging folders left by a killed run; the output lock keeps out live ones.
        for stale in output_dir.glob(".*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        staging.mkdir(mode=RUN_FOLDER_MODE)
        for name, write_table in tables.items():
            if same_tables:
                with (
                    atomic_file(staging / name) as handle,
                    (same_tables / name).open(encoding="utf-8", newline="") as previous,
                ):
                    shutil.copyfileobj(previous, handle)
            else:
                write_table(staging / name)
        # The tables' writing time goes into run.json with the other stages' seconds.
        seconds = {**run_info.get("seconds", {}), "export": round(time.perf_counter() - started, 3)}
        with atomic_file(staging / "run.json") as handle:
            handle.write(json.dumps({**run_info, "seconds": seconds}, indent=2, ensure_ascii=False))
            handle.write("\n")
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


def article_rows(
    articles: Sequence[Article], sentences: list[Sentence], story_of: dict[str, str] | None = None
) -> Iterator[tuple]:
    """One row per article, in id order: where it came from (outlet, URL, title, publication
    date as the page states it), the language most of its sentences are in, how many
    sentences it has, and its story, so an analyst can cite each statement's source."""
    languages = article_languages(sentences)
    counts = Counter(s.article_id for s in sentences)
    story_of = story_of or {}
    for a in sorted(articles, key=lambda a: a.id):
        yield (
            a.id, a.source, a.url, a.title, a.published, languages.get(a.id, ""), counts[a.id],
            story_of.get(a.id, ""),
        )  # fmt: skip


def article_languages(sentences: list[Sentence]) -> dict[str, str]:
    """Each article's language: the one most of its sentences are in (the first seen on a
    tie)."""
    langs_of: dict[str, Counter] = defaultdict(Counter)
    for sentence in sentences:
        langs_of[sentence.article_id][sentence.lang] += 1
    return {article: langs.most_common(1)[0][0] for article, langs in langs_of.items()}


def previous_tables(output_dir: Path, result_key: str | None, names: list[str]) -> Path | None:
    """The latest run folder, if its tables came from exactly the same inputs (run.json's
    `result_key`) and are all there: a rerun copies them instead of writing them again."""
    latest = output_dir / "latest"
    info = previous_run_info(output_dir)
    if not result_key or info.get("result_key") != result_key:
        return None
    if not all((latest / name).is_file() for name in names):
        return None
    return latest.resolve()


def point_latest(output_dir: Path, run_id: str) -> None:
    """Atomically repoint the `latest` symlink (relative, so the folder can move)."""
    temporary = output_dir / ".latest.tmp"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(run_id, target_is_directory=True)
    os.replace(temporary, output_dir / "latest")
