"""report.html: what a run found, story by story, for a reader with a browser and no network.

It is made from the run folder's tables (the CSV contract), so `parallax report --run DIR`
renders any run. The page comes from a Jinja2 template, autoescaped, since article text is
untrusted input. Each story's coverage heatmap is a Plotly figure; Plotly's JavaScript is
inlined once, so the file opens from disk.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.export import plain_cell, read_row_index, table_rows
from pipeline.files import atomic_file
from pipeline.spans import divergent_ranges
from pipeline.stories import parse_published
from pipeline.workbook import write_workbook

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
SHOWN_STORIES = 20  # the newest; stories.csv lists them all
SHOWN_STATEMENTS = 20  # per story, those carried by the most sources
SHOWN_UNIQUE = 10  # per source of a story
HEATMAP_LABEL_CHARS = 70
# The columns the report reads from each table: a file without them is not a Parallax table.
COLUMNS = {
    "stories.csv": ("story", "title", "first_published", "last_published", "sources", "languages"),
    "statements.csv": (
        "group", "article", "source", "lang", "original", "english", "representative", "story",
        "first_source", "first_published", "lag_hours",
    ),
    "coverage.csv": ("story", "group", "statement"),
    "unique.csv": ("source", "article", "lang", "original", "english", "story"),
    "articles.csv": ("article", "source", "url", "title", "published", "lang", "story"),
}  # fmt: skip


class ReportError(RuntimeError):
    """The run folder's tables cannot be read (missing, not UTF-8, not Parallax's)."""


@dataclass(frozen=True)
class Wording:
    """One source's sentence: its original, its English side in segments (text, whether the
    words are absent from the statement's representative wording), and when it came."""

    source: str
    lang: str
    original: str
    english: list[tuple[str, bool]]
    when: str  # "first", "+3.5 h", or "undated"

    @property
    def translated(self) -> bool:
        return self.original != "".join(text for text, _ in self.english)


@dataclass(frozen=True)
class StatementView:
    id: str
    representative: str
    sources: list[str]
    languages: list[str]
    wordings: list[Wording]


@dataclass(frozen=True)
class ArticleView:
    title: str
    source: str
    published: str
    lang: str
    url: str  # "" unless http(s): a link is never javascript:


@dataclass
class StoryView:
    id: str
    title: str
    first_published: str
    last_published: str
    sources: list[str]
    languages: list[str]
    statements: list[StatementView] = field(default_factory=list)  # the shown ones
    statements_total: int = 0
    # Of the shown statements, in their order: (text, carried (1) or not (0) per source of
    # coverage_sources).
    coverage: list[tuple[str, list[int]]] = field(default_factory=list)
    coverage_sources: list[str] = field(default_factory=list)
    unique: dict[str, list[Wording]] = field(default_factory=dict)  # SHOWN_UNIQUE a source
    unique_totals: dict[str, int] = field(default_factory=dict)  # all, by source
    articles: list[ArticleView] = field(default_factory=list)

    @property
    def heatmap(self) -> str:
        return _heatmap(self)


@dataclass(frozen=True)
class RunView:
    """What the report shows of a run (read_run())."""

    run_id: str
    finished: str
    counts: dict[str, Any]
    skipped: list[dict[str, Any]]  # run.json's missing_models: languages left without English
    stories: list[StoryView]  # the newest
    stories_total: int


def write_report(
    run_dir: Path,
    path: Path | None = None,
    index: Mapping[str, Any] | None = None,
    max_stories: int = SHOWN_STORIES,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Render the run in `run_dir` to `path` (default run_dir/report.html), and the tables of
    the stories it shows (the `max_stories` newest) to report.xlsx beside it
    (pipeline/workbook.py); returns the HTML path. `index` (its row index) and `info` (its
    run.json) where the caller holds them, else they are read.

    Raises ReportError when the run's tables cannot be read, OSError when a file cannot be
    written."""
    index = read_row_index(run_dir) if index is None else index
    tables = read_tables(run_dir, max_stories, index)
    view = run_view(run_dir, tables, info)
    page = _render(view)
    path = path or run_dir / REPORT_FILE
    statements = {statement.id for story in view.stories for statement in story.statements}
    # The workbook first: a run's tables it cannot read leave the page as it was, too.
    try:
        write_workbook(run_dir, tables, statements, path.with_suffix(".xlsx"), index)
    except (FileNotFoundError, ValueError, KeyError, csv.Error) as error:  # a table
        raise _unreadable(run_dir, error) from error
    with atomic_file(path) as handle:
        handle.write(page)
    return path


def _render(view: RunView) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape
    from plotly.offline import get_plotlyjs

    environment = Environment(
        loader=PackageLoader("pipeline", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2").render(
        count=_count,
        run=view,
        sources=sorted({source for story in view.stories for source in story.sources}),
        languages=sorted({lang for story in view.stories for lang in story.languages}),
        plotly_js=_valid_html_text(get_plotlyjs()),
        made=_shown_date(datetime.now(UTC).isoformat()),
    )


def read_run(
    run_dir: Path,
    max_stories: int = SHOWN_STORIES,
    index: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
) -> RunView:
    """What a report shows of the run in `run_dir` (run_view() of read_tables()).

    Raises ReportError when a table is missing or unreadable."""
    return run_view(run_dir, read_tables(run_dir, max_stories, index), info)


def read_tables(
    run_dir: Path, max_stories: int = SHOWN_STORIES, index: Mapping[str, Any] | None = None
) -> dict[str, list[dict[str, str]]]:
    """The rows a report reads, by table name without ".csv": stories and articles whole;
    statements, coverage and unique of the `max_stories` newest stories (by last_published),
    read by byte range where the run's row index (`index`, else read from the folder) has
    them; and "shown", those stories' rows of stories.csv, newest first.

    Raises ReportError when a table is missing or unreadable."""
    index = read_row_index(run_dir) if index is None else index
    try:
        stories = table_rows(run_dir, "stories.csv", columns=COLUMNS["stories.csv"])
        shown = _newest(stories)[:max_stories]
        ids = [row["story"] for row in shown]
        tables = {
            name: table_rows(run_dir, f"{name}.csv", ids, index, COLUMNS[f"{name}.csv"])
            for name in ("statements", "coverage", "unique")
        }
        articles = table_rows(run_dir, "articles.csv", index=index, columns=COLUMNS["articles.csv"])
    except (OSError, ValueError, KeyError, csv.Error) as error:  # ValueError: not UTF-8
        raise _unreadable(run_dir, error) from error
    return {"stories": stories, "shown": shown, "articles": articles, **tables}


def run_view(
    run_dir: Path, tables: Mapping[str, list[dict[str, str]]], info: Mapping[str, Any] | None
) -> RunView:
    """What a report shows of the run in `run_dir`, from its `tables` (read_tables()): the
    shown stories; per story its statements carried by the most sources first, each with
    every source's wording; its coverage (statements x sources); what only one source said;
    its articles. `info`: its run.json, else read from the folder.

    Raises ReportError when run.json is missing or unreadable."""
    info = _run_info(run_dir) if info is None else info
    counted = info.get("counts", {}).get("stories")
    if isinstance(counted, int) and counted != len(tables["stories"]):
        log.warning(
            "%s holds %d stories, its run.json counts %d: it changed since the run wrote it",
            run_dir / "stories.csv", len(tables["stories"]), counted,
        )  # fmt: skip
    views = [_story(row) for row in tables["shown"]]
    by_id = {view.id: view for view in views}
    articles = tables["articles"]
    undated = {plain_cell(row["article"]) for row in articles if not row["published"].strip()}
    day_only = {plain_cell(row["article"]) for row in articles if _day_only(row["published"])}
    groups_of: dict[str, list[list[dict[str, str]]]] = defaultdict(list)
    for group in _groups(tables["statements"]).values():
        groups_of[group[0]["story"]].append(group)
    coverage_of: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for row in tables["coverage"]:  # source columns as named (a header cell is neutralised too)
        coverage_of[row["story"]][row["group"]] = {plain_cell(k): v for k, v in row.items()}
    for story in views:
        groups = sorted(groups_of[story.id], key=_strength)
        story.statements_total = len(groups)
        story.statements = [
            _statement(group, undated, day_only) for group in groups[:SHOWN_STATEMENTS]
        ]
        rows = [coverage_of[story.id].get(s.id) for s in story.statements]
        if rows and all(rows):
            story.coverage_sources = [s for s in story.sources if s in rows[0]]
            story.coverage = [
                (
                    plain_cell(row["statement"]),
                    [int(row[s] not in ("", "0")) for s in story.coverage_sources],
                )
                for row in rows
            ]
    for row in tables["unique"]:
        story = by_id.get(row["story"])
        if story is not None:
            source = plain_cell(row["source"])
            words = story.unique.setdefault(source, [])
            story.unique_totals[source] = story.unique_totals.get(source, 0) + 1
            if len(words) < SHOWN_UNIQUE:
                words.append(_wording(row, None, "unique"))
    for row in articles:
        story = by_id.get(row.get("story", ""))
        if story is not None:
            story.articles.append(_article(row))
    return RunView(
        run_id=info.get("run_id", run_dir.name),
        finished=_shown_date(info.get("finished", "")),
        counts=info.get("counts", {}),
        skipped=info.get("missing_models", []),
        stories=views,
        stories_total=len(tables["stories"]),
    )


def _unreadable(run_dir: Path, error: Exception) -> ReportError:
    """A table of the run could not be read: why, in one line that names the file."""
    if isinstance(error, FileNotFoundError):
        return ReportError(f"cannot read the run in {run_dir}: {error.filename} is missing")
    return ReportError(f"cannot read the run in {run_dir}: {error}")


# What the report reads of run.json, and the type each must have.
RUN_INFO = {"run_id": str, "finished": str, "counts": dict, "missing_models": list}


def _run_info(run_dir: Path) -> dict[str, Any]:
    """run.json of `run_dir`, checked for what the report reads of it.

    Raises ReportError naming run.json when it is missing, not JSON, or not a run's."""
    path = run_dir / "run.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: not JSON, or not UTF-8
        raise ReportError(f"cannot read {path}: {error}") from error
    if not isinstance(info, dict):
        raise ReportError(f"{path} is not a Parallax run.json: not a JSON object")
    for key, kind in RUN_INFO.items():
        if key in info and not isinstance(info[key], kind):
            raise ReportError(f"{path} is not a Parallax run.json: {key} is no {kind.__name__}")
    if not all(isinstance(model, dict) for model in info.get("missing_models", [])):
        raise ReportError(f"{path} is not a Parallax run.json: missing_models holds no objects")
    return info


def _count(number: int, singular: str, plural: str = "") -> str:
    """How many, in words: "1 source", "2 sources"."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _newest(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Stories by last_published, newest first; undated ones last."""
    oldest = datetime.min.replace(tzinfo=UTC)

    def when(row: dict[str, str]) -> datetime:
        return parse_published(row.get("last_published", "")) or oldest

    return sorted(rows, key=when, reverse=True)


def _story(row: dict[str, str]) -> StoryView:
    return StoryView(
        id=row["story"],
        title=plain_cell(row["title"]),
        first_published=_shown_date(row["first_published"]),
        last_published=_shown_date(row["last_published"]),
        sources=_listed(row["sources"]),
        languages=_listed(row["languages"]),
    )


def _listed(cell: str) -> list[str]:
    return [item for item in plain_cell(cell).split("; ") if item]


def _groups(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        groups[row["group"]].append(row)
    return groups


def _strength(rows: list[dict[str, str]]) -> tuple[int, int, str]:
    """Statements carried by the most sources first, then by the most languages."""
    sources = {row["source"] for row in rows}
    return -len(sources), -len({row["lang"] for row in rows}), rows[0]["group"]


def _statement(
    rows: list[dict[str, str]], undated: Collection[str], day_only: Collection[str]
) -> StatementView:
    """One statement from its statements.csv rows (first carrier first); `undated`: the
    articles that state no date; `day_only`: those that state a day without a time."""
    representative = plain_cell(rows[0]["representative"])
    wordings = [_wording(row, representative, _when(row, undated, day_only)) for row in rows]
    return StatementView(
        id=rows[0]["group"],
        representative=representative,
        sources=sorted({w.source for w in wordings}),
        languages=sorted({w.lang for w in wordings}),
        wordings=wordings,
    )


def _when(row: dict[str, str], undated: Collection[str], day_only: Collection[str]) -> str:
    """ "first", "+3.5 h" after the first carrier, or "undated". A lag measured from when an
    accumulating corpus first read an undated article says "(first seen)", as stories.csv
    does; one from a day without a time (taken as midnight) is in days, "same day" or "+2 d":
    hours would claim more than is known."""
    lag, article = row["lag_hours"], plain_cell(row["article"])
    if plain_cell(row["source"]) == plain_cell(row["first_source"]) and lag in ("", "0.0"):
        return "first" if row["first_published"] else "undated"
    if not lag:
        return "undated"
    if article in undated or row["first_published"].endswith("seen)"):
        return f"+{lag} h (first seen)"
    if article in day_only or _day_only(row["first_published"]):
        days = int(float(lag) // 24)
        return "same day" if days == 0 else f"+{days} d"
    return f"+{lag} h"


def _day_only(published: str) -> bool:
    """Whether a publication date gives a day and no time ("2026-10-03", "03.10.2026")."""
    text = published.strip()
    return bool(text) and ":" not in text and parse_published(text) is not None


def _shown_date(published: str) -> str:
    """A date as the report shows it: a day as given, a time to the minute in UTC
    ("2026-10-03 07:10 UTC"), anything else as given."""
    moment = parse_published(published)
    if moment is None or _day_only(published):
        return published
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _wording(row: dict[str, str], representative: str | None, when: str) -> Wording:
    """A row of statements.csv or unique.csv; its English split into segments, those absent
    from `representative` marked."""
    english = plain_cell(row["english"])
    marked: list[tuple[int, int]] = []
    if representative is not None and english != representative:
        marked = divergent_ranges(english, representative)[0]
    segments, at = [], 0
    for start, end in marked:
        segments += [(english[at:start], False), (english[start:end], True)]
        at = end
    segments.append((english[at:], False))
    return Wording(
        source=plain_cell(row["source"]),
        lang=row["lang"],
        original=plain_cell(row["original"]),
        english=[(text, mark) for text, mark in segments if text],
        when=when,
    )


def _article(row: dict[str, str]) -> ArticleView:
    url = plain_cell(row["url"])
    return ArticleView(
        title=plain_cell(row["title"]) or plain_cell(row["article"]),
        source=plain_cell(row["source"]),
        published=_shown_date(row["published"]),
        lang=row["lang"],
        url=url if url.lower().startswith(("http://", "https://")) else "",
    )


def _heatmap(story: StoryView) -> str:
    """The story's coverage as a Plotly heatmap (a row per shown statement, a column per
    source: carried or not) in Plotly's JSON figure format, safe inside a <script> element;
    "" without coverage. Written as JSON directly: building plotly.graph_objects figures,
    which validate every attribute, took a second for 50 stories."""
    if not story.coverage:
        return ""
    carried = [line for _, line in story.coverage]
    heatmap = {
        "type": "heatmap",
        "z": carried,
        "x": story.coverage_sources,
        "y": [shortened(text, HEATMAP_LABEL_CHARS) for text, _ in story.coverage],
        "text": [["carried" if c else "not carried" for c in line] for line in carried],
        "zmin": 0, "zmax": 1, "showscale": False, "xgap": 2, "ygap": 2,
        "colorscale": [[0, "#eef0f3"], [1, "#2a6f97"]],
        "hovertemplate": "%{y}<br>%{x}: %{text}<extra></extra>",
    }  # fmt: skip
    layout = {
        "height": 120 + 24 * len(carried),
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "yaxis": {"autorange": "reversed", "automargin": True},
        "xaxis": {"side": "top", "automargin": True},
    }
    return _script_safe(json.dumps({"data": [heatmap], "layout": layout}, ensure_ascii=False))


def shortened(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, the last an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Plotly's bundle holds two raw control characters in string literals (PNG and PSD magic
# numbers), which HTML forbids in a document; as JavaScript escapes they mean the same.
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _valid_html_text(script: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", script)


def _script_safe(text: str) -> str:
    """JSON that cannot close the <script> element it sits in (</script>, <!--)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
