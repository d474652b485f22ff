"""Write a run's outputs: CSVs and run.json, each atomically, then point `latest` at the run."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.files import atomic_file
from pipeline.records import Alignment, Article, Reject, Sentence
from pipeline.statements import (
    Statement,
    UniqueSentence,
    carriers_in_order,
    coverage_matrix,
    lag_hours,
)
from pipeline.stories import Story, parse_published

log = logging.getLogger(__name__)

# The tables hold what the inputs held: a title or a URL may be longer than the csv module's
# default field limit (131,072 characters), and reading a run's tables back for its report
# then failed the whole run. The limit is the csv module's, for the process.
csv.field_size_limit(2**31 - 1)

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


def alignment_lines(story_of: Mapping[str, str]) -> Callable[[Iterable[Alignment]], Iterator[str]]:
    """A function from alignments to their alignments.csv rows (without line ends).

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

    def lines(alignments: Iterable[Alignment]) -> Iterator[str]:
        for x in alignments:
            own = (
                f"{x.cosine:.4f}", f"{x.margin:.4f}", x.only_in_a, x.only_in_b, x.method,
                x.relation, story_of.get(x.a.article_id, ""),
            )  # fmt: skip
            yield f"{side(x.a)},{side(x.b)},{_csv_line(own)}"

    return lines


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


def coverage_rows(statements: Iterable[Statement]) -> list[list[Any]]:
    """[group, statement, {source: how many of its sentences carry it}] per statement."""
    return [
        [row.pop("group"), row.pop("statement"), row]
        for row in coverage_matrix(
            list(statements), sorted({s for st in statements for s in st.sources})
        )
    ]


def kept_coverage(path: Path, stories: set[str]) -> dict[str, list[list[Any]]]:
    """These `stories`' coverage_rows() read back from a kept run's coverage.csv."""
    coverage: dict[str, list[list[Any]]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        sources = [plain_cell(cell) for cell in next(reader)[3:]]
        for story, group, statement, *cells in reader:
            if story in stories:
                count = {s: int(cell) for s, cell in zip(sources, cells, strict=True) if cell}
                coverage.setdefault(story, []).append([group, plain_cell(statement), count])
    return coverage


def coverage_table(
    coverage: Mapping[str, list[list[Any]]],
    stories: Sequence[str],
    story_sources: Mapping[str, Sequence[str]],
    sources: Sequence[str] | None = None,
) -> tuple[tuple[str, ...], list[list[Any]]]:
    """coverage.csv from each story's coverage_rows(), in `stories` order: a row per
    statement, a column per source: how many of its sentences carry it; empty where the source
    has no article in the statement's story (it could not have carried it), 0 where it covered
    the story and left the statement out. The columns are `sources`, or by default every
    source in `coverage`."""
    if sources is None:
        sources = sorted({s for rows in coverage.values() for *_, count in rows for s in count})
    table = []
    for story in stories:
        covered = set(story_sources.get(story, sources))
        for group, statement, count in coverage.get(story, []):
            table.append(
                [story, group, statement]
                + [count.get(source, 0) if source in covered else "" for source in sources]
            )
    return ("story", "group", "statement", *sources), table


def story_rows(
    stories: Iterable[Story],
    source_of: Mapping[str, str],
    published: Mapping[str, datetime | None],
    first_seen: Collection[str] = (),
) -> Iterator[tuple]:
    """A row per story, with its provenance: the source of its first article, and for each
    other source how many hours after that its first article came ("(undated)" without a
    date; "(first seen)" where either time is when the corpus first read an undated article,
    `first_seen`, not a publication date)."""
    for story in stories:
        first = story.articles[0]
        later: dict[str, str] = {}
        for article in story.articles[1:]:
            source = source_of.get(article, "")
            if source == source_of.get(first) or source in later:
                continue
            hours = lag_hours(article, first, published)
            later[source] = "(undated)" if hours is None else f"{hours:+.1f} h"
            if hours is not None and {article, first} & set(first_seen):
                later[source] += " (first seen)"
        yield (
            story.id, story.title, story.first_published, story.last_published,
            len(story.articles), "; ".join(story.sources), "; ".join(story.languages),
            source_of.get(first, ""), "; ".join(f"{s} {lag}" for s, lag in later.items()),
        )  # fmt: skip


def previous_stories(output_dir: Path) -> dict[str, str]:
    """Each article's story in the latest run (OUTPUT/latest/articles.csv): {} when there is
    none, it cannot be read (not UTF-8, not CSV), or it is from before stories."""
    try:
        with (output_dir / "latest" / "articles.csv").open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)  # not DictReader: two columns of every article, each run
            header = next(reader, [])
            if not {"article", "story"} <= set(header):
                return {}
            article, story = header.index("article"), header.index("story")
            return {plain_cell(row[article]): row[story] for row in reader if row[story]}
    except (OSError, ValueError, IndexError, csv.Error):  # ValueError: not UTF-8
        return {}


def previous_run_info(output_dir: Path) -> dict[str, Any]:
    """The latest run's run.json (OUTPUT/latest/run.json): {} when there is none or it cannot
    be read."""
    try:
        info = json.loads((output_dir / "latest" / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def previous_statements(
    output_dir: Path,
    stories: Collection[str] | None = None,
    index: Mapping[str, Any] | None = None,
) -> dict[tuple[str, str], str]:
    """Each member sentence's statement in the latest run (OUTPUT/latest/statements.csv), by
    (article id, original text): {} when there is none or it cannot be read. With `stories`,
    only the rows of those stories are read (by byte range, where the latest run's row index,
    or `index` if given, has them)."""
    try:
        rows = table_rows(
            output_dir / "latest",
            "statements.csv",
            stories,
            index,
            ("article", "original", "group"),
        )
    except (OSError, ValueError, csv.Error):  # ValueError: not UTF-8; csv.Error: not our table
        return {}
    return {(plain_cell(row["article"]), plain_cell(row["original"])): row["group"] for row in rows}


def read_row_index(folder: Path) -> dict[str, Any]:
    """The row index of run `folder` (ROW_INDEX); {} where it has none (a run from before it)
    or one that cannot be read: its tables are then read whole."""
    try:
        index = json.loads((folder / ROW_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def table_rows(
    folder: Path,
    name: str,
    groups: Collection[str] | None = None,
    index: Mapping[str, Any] | None = None,
    columns: Collection[str] = (),
) -> list[dict[str, str]]:
    """The rows of table `name` of run `folder`, as written (formula-like cells neutralised:
    see plain_cell). With `groups` (story ids; article ids for the tables grouped by article,
    sentences.csv and articles.csv), only theirs: read by the byte ranges of the folder's row
    index (ROW_INDEX, or `index` if given) where it has them, else picked from the whole table.

    Raises OSError (no such file), ValueError (not UTF-8), csv.Error
    (not CSV, a row shorter than the header, or a header without one of `columns`); the
    messages name the file."""
    ranges = None
    if groups is not None:
        index = read_row_index(folder) if index is None else index
        ranges = index.get(name)
    changed = changed_since_written(folder / name, index) if index is not None else ""
    try:
        # A changed table's byte ranges no longer hold: it is read whole.
        rows = _rows(folder / name, groups, None if changed else ranges, columns)
    except (ValueError, csv.Error) as error:  # ValueError: not UTF-8
        if changed:
            raise type(error)(f"{error} ({changed})") from None
        raise
    if changed:
        log.warning("%s: %s; its rows are read as they are now", folder / name, changed)
    return rows


def _rows(
    path: Path, groups: Collection[str] | None, ranges: Any, columns: Collection[str]
) -> list[dict[str, str]]:
    key = "article" if path.name in ("sentences.csv", "articles.csv") else "story"
    try:
        with path.open("rb") as handle:
            if groups is None or not isinstance(ranges, dict):
                # utf-8-sig: a table saved from a spreadsheet may start with a byte order mark.
                text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
                reader = csv.DictReader(text)
                rows = _checked(list(reader), reader.fieldnames, columns, path)
                if groups is not None:
                    wanted = set(groups)
                    rows = [row for row in rows if plain_cell(row.get(key) or "") in wanted]
                return rows
            header = handle.readline()
            rows = []
            for group in sorted(set(groups) & set(ranges)):
                start, end = ranges[group]
                handle.seek(start)
                text = (header + handle.read(end - start)).decode("utf-8")
                rows += csv.DictReader(io.StringIO(text, newline=""))
            fields = next(csv.reader(io.StringIO(header.decode("utf-8"), newline="")), [])
            return _checked(rows, fields, columns, path)
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 (byte {error.start} of a row)") from None


def changed_since_written(path: Path, index: Mapping[str, Any]) -> str:
    """How table `path` differs from what its run wrote (ROW_INDEX's "files": its size), as
    when saved from a spreadsheet or cut short; "" where it does not, or is not recorded."""
    written = (index.get("files") or {}).get(path.name)
    try:
        size = path.stat().st_size
    except OSError:
        return ""  # the read says what is wrong
    if not isinstance(written, list) or not written or size == written[0]:
        return ""
    return f"changed since the run wrote it: {size} bytes, written {written[0]}"


def _checked(
    rows: list[dict[str, str]], fields: Sequence[str] | None, columns: Collection[str], path: Path
) -> list[dict[str, str]]:
    missing = sorted(set(columns) - set(fields or ()))
    if missing:
        raise csv.Error(f"{path} has no column {', '.join(missing)}: not a Parallax table")
    for number, row in enumerate(rows, start=1):
        if None in row.values() or None in row:
            raise csv.Error(f"{path}: row {number} has not as many cells as the header")
    return rows


ROW_INDEX = ".rows.json"  # in each run folder: where each story's and article's rows are
# Tables whose rows come in groups, by article or by story, copied where a group is unchanged.
KEPT_TABLES = (
    "sentences.csv", "articles.csv", "alignments.csv", "statements.csv", "unique.csv",
    "coverage.csv",
)  # fmt: skip


@dataclass(frozen=True)
class KeptRows:
    """The latest run's rows that a run may copy instead of writing anew: its folder, and its
    row index (ROW_INDEX: byte ranges by article and by story, and each story's counts)."""

    folder: Path
    index: dict[str, Any]


def kept_rows(output_dir: Path, tables_key: str) -> KeptRows | None:
    """The latest run's rows, if it wrote them with the same `tables_key` (options, models,
    code) and they are all there; None otherwise (then every story is written anew)."""
    latest = output_dir / "latest"
    if not latest.is_dir():
        return None
    try:
        index = json.loads((latest / ROW_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.info("latest has no readable %s: every story is written anew", ROW_INDEX)
        return None
    if not isinstance(index, dict) or index.get("tables_key") != tables_key:
        log.info(
            "options, models or code differ from the latest run's: every story is written anew"
        )
        return None
    files = index.get("files", {})
    for name in KEPT_TABLES:
        # A table changed since (saved from a spreadsheet, say): its byte ranges no longer hold.
        path = latest / name
        if not path.is_file() or _size_and_time(path) != files.get(name):
            log.info("latest/%s changed since it was written: every story is written anew", name)
            return None
    return KeptRows(latest.resolve(), index)


@dataclass(frozen=True)
class RunTables:
    """What a run writes. Rows of the `sentences` of `fresh_articles` and of the alignments,
    statements and unique sentences of `fresh_stories` are written anew; every other
    article's and story's rows are copied from `kept` (the latest run's)."""

    articles: Sequence[Article]  # every article of the corpus
    languages: Mapping[str, str]  # article id -> its language (articles with sentences)
    sentence_counts: Mapping[str, int]  # article id -> how many sentences it has
    stories: Sequence[Story]
    sentences: list[Sentence]
    alignments: list[Alignment]
    statements: list[Statement]
    unique: list[UniqueSentence]
    rejects: list[Reject]
    fresh_articles: frozenset[str]
    fresh_stories: frozenset[str]
    kept: KeptRows | None = None
    tables_key: str = ""
    # When each article came out, for provenance, and how to show it (pipeline.run.
    # provenance_dates); None: as the articles state it.
    dates: Mapping[str, datetime | None] | None = None
    stated: Mapping[str, str] | None = None


def story_counts(tables: RunTables, story_of: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Each story's counts (alignments, alignments_disagree, statements (their ids), unique,
    unique_unchecked): counted for fresh stories, as the latest run counted them for others."""
    kept = tables.kept.index.get("stories", {}) if tables.kept else {}
    counts: dict[str, dict[str, Any]] = {}
    for story in tables.stories:
        if story.id not in tables.fresh_stories:
            counts[story.id] = kept.get(story.id, _no_counts())
        else:
            counts[story.id] = _no_counts()
    for x in tables.alignments:
        story = counts[story_of[x.a.article_id]]
        story["alignments"] += 1
        story["alignments_disagree"] += x.relation != "same"
    for statement in tables.statements:
        counts[statement.story]["statements"].append(statement.id)
    for u in tables.unique:
        story = counts[story_of[u.sentence.article_id]]
        story["unique"] += 1
        story["unique_unchecked"] += bool(u.unchecked)
    return counts


def _no_counts() -> dict[str, Any]:
    return {
        "alignments": 0, "alignments_disagree": 0, "statements": [], "unique": 0,
        "unique_unchecked": 0,
    }  # fmt: skip


def write_run(
    output_dir: Path,
    run_id: str,
    tables: RunTables,
    run_info: dict[str, Any],
    finish: Callable[[Path, dict[str, Any], dict[str, Any]], Any] | None = None,
    keep_runs: int | None = None,
) -> Path:
    """Write OUTPUT/<run_id>/ and repoint OUTPUT/latest; returns the run folder. With
    `keep_runs`, older run folders than the newest `keep_runs` are then removed (prune_runs).

    Files go to a hidden staging folder first, which is renamed into place only when all are
    written, so neither a run folder nor `latest` is ever seen half-written. `finish` is
    called with the staging folder, its row index and `run_info` once the tables are in it
    (to add the report made from them).
    """
    output_dir.mkdir(mode=RUN_FOLDER_MODE, parents=True, exist_ok=True)
    staging = output_dir / f".{run_id}.partial"
    started = time.perf_counter()
    try:
        # Staging folders left by a killed run; the output lock keeps out live ones.
        for stale in output_dir.glob(".*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        staging.mkdir(mode=RUN_FOLDER_MODE)
        index = _write_tables(staging, tables)
        with atomic_file(staging / ROW_INDEX) as handle:
            handle.write(json.dumps(index, ensure_ascii=False))  # dumps: the C encoder
        if finish is not None:
            finish(staging, index, run_info)
        # The time to write the tables (and the report) goes into run.json with the other
        # stages' seconds.
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
    if keep_runs is not None:
        prune_runs(output_dir, keep_runs)
    return run_dir


# A run folder's name (pipeline.run.new_run_id): UTC time, then 6 random hex digits.
RUN_FOLDER_NAME = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")


def prune_runs(output_dir: Path, keep: int) -> list[str]:
    """Remove the run folders of `output_dir` older than the newest `keep` (_run_time);
    never the one `latest` points to, nor anything not named like a run folder, nor a link.
    Returns the names removed. A folder that cannot be removed whole keeps what could not be
    removed, with a warning: the run itself is written."""
    current = (output_dir / "latest").resolve().name
    runs = [
        path
        for path in output_dir.iterdir()
        if RUN_FOLDER_NAME.fullmatch(path.name) and path.is_dir() and not path.is_symlink()
    ]
    runs.sort(key=_run_time)
    removed = []
    for path in runs[: max(len(runs) - keep, 0)]:
        if path.name == current:
            continue
        try:
            shutil.rmtree(path)
        except OSError as error:
            log.warning("could not remove the old run folder %s (%s)", path, error)
            continue
        removed.append(path.name)
    if removed:
        log.info("removed %d run folder(s) older than the newest %d (paths.keep_runs)",
                 len(removed), keep)  # fmt: skip
    return removed


def _run_time(run_dir: Path) -> tuple[str, int]:
    """When a run was made: the UTC second its name starts with, then (two runs in one second)
    when its run.json, the last file a run writes, was written."""
    try:
        written = (run_dir / "run.json").stat().st_mtime_ns
    except OSError:
        written = 0
    return run_dir.name.split("-")[0], written


def _write_tables(folder: Path, tables: RunTables) -> dict[str, Any]:
    """Write every table into `folder`; returns the row index (ROW_INDEX) of what was written."""
    story_of = {article: story.id for story in tables.stories for article in story.articles}
    published = tables.dates
    if published is None:
        published = {a.id: parse_published(a.published) for a in tables.articles}
    stated = tables.stated if tables.stated is not None else {}
    stated = {a.id: stated.get(a.id, a.published) for a in tables.articles}
    source_of = {a.id: a.source for a in tables.articles}
    kept = tables.kept
    kept_index = kept.index if kept else {}
    story_ids = [story.id for story in tables.stories]

    def grouped(
        records: Iterable[Any], key: Callable[[Any], str], keys: Iterable[str] = ()
    ) -> dict[str, list[Any]]:
        """`records` by story; every fresh story (and every one of `keys`) is there."""
        groups: dict[str, list[Any]] = {group: [] for group in (*tables.fresh_stories, *keys)}
        for record in records:
            groups[key(record)].append(record)
        return groups

    index: dict[str, Any] = {"tables_key": tables.tables_key}
    sentences_of: dict[str, list[Sentence]] = {a: [] for a in tables.fresh_articles}
    for sentence in tables.sentences:
        sentences_of[sentence.article_id].append(sentence)
    index["sentences.csv"] = write_grouped(
        folder / "sentences.csv", SENTENCE_COLUMNS, sorted(source_of), sentences_of,
        lambda rows: map(_csv_line, sentence_rows(rows)), kept,
    )  # fmt: skip
    index["alignments.csv"] = write_grouped(
        folder / "alignments.csv", ALIGNMENT_COLUMNS, story_ids,
        grouped(tables.alignments, lambda x: story_of[x.a.article_id]),
        alignment_lines(story_of), kept,
    )  # fmt: skip
    statements_of = grouped(tables.statements, lambda statement: statement.story)
    index["statements.csv"] = write_grouped(
        folder / "statements.csv", STATEMENT_COLUMNS, story_ids, statements_of,
        lambda rows: map(_csv_line, statement_rows(rows, published, stated)), kept,
    )  # fmt: skip
    index["unique.csv"] = write_grouped(
        folder / "unique.csv", UNIQUE_COLUMNS, story_ids,
        grouped(tables.unique, lambda u: story_of[u.sentence.article_id]),
        lambda rows: (
            _csv_line((
                u.sentence.source, u.sentence.article_id, u.sentence.position, u.sentence.lang,
                u.sentence.text, u.sentence.english, u.unchecked,
                story_of.get(u.sentence.article_id, ""),
            ))
            for u in rows
        ),
        kept,
    )  # fmt: skip
    story_sources = {story.id: story.sources for story in tables.stories}
    coverage = {s: coverage_rows(statements_of.get(s, [])) for s in tables.fresh_stories}
    # Which sources each story's statements were carried by: the coverage columns.
    carried = {
        story: sorted({source for *_, count in coverage[story] for source in count})
        if story in tables.fresh_stories
        else kept_index.get("coverage_sources", {}).get(story, [])
        for story in story_ids
    }
    columns = ("story", "group", "statement", *sorted({s for c in carried.values() for s in c}))
    # Another set of sources is another set of columns: then every row is written anew.
    same_columns = kept_index.get("coverage_columns") == list(columns)
    if not same_columns and kept is not None:
        coverage |= kept_coverage(kept.folder / "coverage.csv", set(story_ids) - set(coverage))
    anew = [s for s in story_ids if s in tables.fresh_stories or not same_columns]
    _, table = coverage_table({s: coverage[s] for s in anew if s in coverage}, anew,
                              story_sources, columns[3:])  # fmt: skip
    index["coverage.csv"] = write_grouped(
        folder / "coverage.csv", columns, story_ids, grouped(table, lambda row: row[0], anew),
        lambda rows: map(_csv_line, rows), kept if same_columns else None,
    )  # fmt: skip
    index["coverage_columns"] = list(columns)
    index["coverage_sources"] = {story: sources for story, sources in carried.items() if sources}
    write_csv(folder / "rejects.csv", REJECT_COLUMNS, ((r.input, r.reason) for r in tables.rejects))
    rows_of = {
        row[0]: [row]
        for row in article_rows(
            [a for a in tables.articles if a.id in tables.fresh_articles],
            tables.languages, tables.sentence_counts, story_of,
        )
    }  # fmt: skip
    index["articles.csv"] = write_grouped(
        folder / "articles.csv", ARTICLE_COLUMNS, sorted(source_of), rows_of,
        lambda rows: map(_csv_line, rows), kept,
    )  # fmt: skip
    # Undated articles that have a time all the same: when the corpus first read them.
    first_seen = {
        a.id for a in tables.articles
        if published.get(a.id) is not None and parse_published(a.published) is None
    }  # fmt: skip
    write_csv(
        folder / "stories.csv", STORY_COLUMNS,
        story_rows(tables.stories, source_of, published, first_seen),
    )  # fmt: skip
    index["stories"] = story_counts(tables, story_of)
    index["files"] = {name: _size_and_time(folder / name) for name in KEPT_TABLES}
    return index


def write_grouped(
    path: Path,
    columns: Sequence[str],
    keys: Iterable[str],
    fresh: Mapping[str, list[Any]],
    lines: Callable[[list[Any]], Iterable[str]],
    kept: KeptRows | None,
) -> dict[str, list[int]]:
    """Write a table whose rows come in groups (an article's, a story's), in `keys` order,
    atomically and streamed: a key in `fresh` gets `lines(fresh[key])` (CSV rows without line
    ends), any other the bytes it had in the kept run's table. Returns each key's byte range
    [start, end) in the new file."""
    ranges: dict[str, list[int]] = {}
    kept_ranges = kept.index.get(path.name, {}) if kept else {}
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(atomic_file(path, binary=True))
        old = stack.enter_context((kept.folder / path.name).open("rb")) if kept else None
        at = out.write((_csv_line(columns) + "\n").encode("utf-8"))
        # Kept groups that lie one after another in the old file are copied in one go.
        run_start = run_end = 0

        def copy_run() -> None:
            if run_end > run_start:
                _copy_range(old, out, run_start, run_end)

        for key in keys:
            if key not in fresh and old is not None and key in kept_ranges:
                start, end = kept_ranges[key]
                if start != run_end:
                    copy_run()
                    run_start = start
                run_end = end
                ranges[key] = [at, at + end - start]
                at += end - start
                continue
            if key not in fresh:
                continue
            copy_run()
            run_start = run_end = 0
            data = "".join(line + "\n" for line in lines(fresh[key])).encode("utf-8")
            if data:
                out.write(data)
                ranges[key] = [at, at + len(data)]
                at += len(data)
        copy_run()
    return ranges


def _size_and_time(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


def _copy_range(source: BinaryIO, target: BinaryIO, start: int, end: int) -> None:
    """Append bytes [start, end) of `source` to `target`, in the kernel where it can."""
    target.flush()
    left, offset = end - start, start
    try:
        while left:
            done = os.copy_file_range(source.fileno(), target.fileno(), left, offset)
            if not done:
                raise OSError("copy_file_range copied nothing")
            left, offset = left - done, offset + done
    except OSError:  # a file system or kernel without it: through Python
        source.seek(offset)
        while left:
            block = source.read(min(left, 1 << 20))
            if not block:
                raise OSError(f"{source.name} is shorter than its row index says") from None
            target.write(block)
            left -= len(block)


def article_rows(
    articles: Sequence[Article],
    languages: Mapping[str, str],
    sentence_counts: Mapping[str, int],
    story_of: Mapping[str, str] | None = None,
) -> Iterator[tuple]:
    """One row per article, in id order: where it came from (outlet, URL, title, publication
    date as the page states it), the language most of its sentences are in, how many
    sentences it has, and its story, so an analyst can cite each statement's source."""
    story_of = story_of or {}
    for a in sorted(articles, key=lambda a: a.id):
        yield (
            a.id, a.source, a.url, a.title, a.published, languages.get(a.id, ""),
            sentence_counts.get(a.id, 0), story_of.get(a.id, ""),
        )  # fmt: skip


def article_languages(sentences: list[Sentence]) -> dict[str, str]:
    """Each article's language: the one most of its sentences are in (the first seen on a
    tie)."""
    langs_of: dict[str, Counter] = defaultdict(Counter)
    for sentence in sentences:
        langs_of[sentence.article_id][sentence.lang] += 1
    return {article: langs.most_common(1)[0][0] for article, langs in langs_of.items()}


def point_latest(output_dir: Path, run_id: str) -> None:
    """Atomically repoint the `latest` symlink (relative, so the folder can move)."""
    temporary = output_dir / ".latest.tmp"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(run_id, target_is_directory=True)
    os.replace(temporary, output_dir / "latest")
