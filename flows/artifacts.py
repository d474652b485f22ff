"""What the Prefect UI shows for a run: a markdown summary (warnings first, then the stories
with their top statements and the coverage of the largest), a table of top statements and a
link to the run's report.

Plain functions from a RunResult and the report's view of the run (pipeline/report.py) to
markdown text or table rows, so they are tested without a server; align_articles.py
publishes them. Cells are kept short and paths come last: the UI shows a table as wide as its
longest cell.
"""

from __future__ import annotations

from pipeline.collect import SourceReport
from pipeline.records import MissingModel, Reject
from pipeline.report import REPORT_FILE, RunView, StatementView, shortened
from pipeline.run import RunResult
from pipeline.translate.packages import install_file_command

SHOWN_REJECTS = 20
SUMMARY_STORIES = 10  # the newest
SUMMARY_STATEMENTS = 3  # per story, those carried by the most sources
TABLE_STATEMENTS = 25  # in the top-statements table
SUMMARY_COVERAGE = 12  # statements in the coverage table: a column each
CELL_CHARS = 160  # longer text is cut (with …) in tables; the report and CSVs hold it whole
TABLE_TEXT_CHARS = 56  # in the top-statements table, whose cells the UI does not wrap
OUTPUT_FILES = (
    REPORT_FILE, "sentences.csv", "alignments.csv", "statements.csv", "coverage.csv",
    "unique.csv", "articles.csv", "stories.csv", "rejects.csv", "run.json",
)  # fmt: skip


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _cell(value: object) -> str:
    return _short(str(value)).replace("|", "\\|").replace("\n", " ")


def _short(text: str, limit: int = CELL_CHARS) -> str:
    return shortened(text, limit)


def skipped_warnings(missing: list[MissingModel]) -> list[str]:
    """One warning per language left without an English side, and what that costs the results."""
    cost = (
        "They are in `sentences.csv` with `english_origin` `skipped`, in no alignment, and "
        "`unique.csv` cannot claim uniqueness against them: a sentence it lists as carried by no "
        "other source may be carried by one of them (its column `unchecked` counts them)."
    )
    lines = []
    for m in missing:
        if m.install_command:
            cause = (
                f"the {m.lang}→en package in `{m.failed_package}` fails"
                if m.failed_package
                else f"no {m.lang}→en model is installed"
            )
            lines.append(
                f"> **Warning: {m.sentences} {m.lang} sentences have no English side** ({cause})."
                f" {cost} Install it with `{m.install_command}` "
                f"(offline: `{install_file_command()}`); the next run fills them in."
            )
        else:
            lines.append(
                f"> **Warning: {m.sentences} sentences in languages Parallax does not translate "
                f"have no English side.** {cost}"
            )
    return lines


def summary_markdown(
    result: RunResult,
    input_dir: str,
    collected: list[SourceReport] = (),
    view: RunView | None = None,
) -> str:
    """The run-summary artifact: warnings (languages left without English) first; what was
    collected; the stories of `view` (the report's, pipeline.report.read_run) with their top
    statements, each source's wording, and the coverage of the largest story; then counts,
    rejects, timings and outputs."""
    lines = [f"# Parallax run `{result.run_id or 'not written'}`", ""]
    for warning in skipped_warnings(result.missing):
        lines += [warning, ""]
    lines += _collected(collected)
    if result.run_dir is None:
        lines += [
            f"**Nothing was read from `{input_dir}`**: no run was written, and `latest` still "
            f"points at the previous run. {len(result.rejects)} inputs rejected."
        ]
        lines += _rejects(result.rejects)
        return "\n".join(lines) + "\n"
    if view is not None:
        lines += _stories(view)
    counts = result.counts
    lines += ["## Articles per language", ""]
    lines += _table(("language", "articles"), sorted(counts["articles_by_lang"].items()))
    lines += ["", "## Sentences by origin of their English side", ""]
    lines += _table(("origin", "sentences"), sorted(counts["sentences_by_origin"].items()))
    lines += ["", "## Results", ""]
    lines += _table(
        ("what", "count"),
        [
            ("articles", counts["articles"]),
            ("sentences", counts["sentences"]),
            ("alignments found", counts["alignments"]),
            ("statements carried by two or more sources", counts["statements"]),
            ("sentences no other source carries", counts["unique_sentences"]),
            ("rejected inputs", counts["rejects"]),
            (
                "sentences translated now / from cache",
                f"{counts['translated_new']} / {counts['translated_cached']}",
            ),
            ("texts embedded now", counts["embedded_new"]),
        ],
    )
    lines += _rejects(result.rejects)
    lines += ["", "## Seconds per stage", ""]
    lines += _table(("stage", "seconds"), list(result.seconds.items()))
    lines += ["", "## Outputs", "", f"Run folder: `{result.run_dir}`", ""]
    lines += [f"- `{name}`" for name in OUTPUT_FILES]
    return "\n".join(lines) + "\n"


def _stories(view: RunView) -> list[str]:
    """The newest stories, each with its top statements and every source's wording; then the
    coverage table of the largest story shown."""
    shown = view.stories[:SUMMARY_STORIES]
    if not shown:
        return []
    more = (
        f" (the {len(shown)} newest of {view.stories_total})"
        if view.stories_total > len(shown)
        else ""
    )
    lines = [f"## Stories{more}", ""]
    for story in shown:
        span = story.first_published or "undated"
        if story.last_published != story.first_published:
            span += f" – {story.last_published}"
        lines += [
            f"### {_inline(story.title)}",
            "",
            f"{span} · {len(story.sources)} sources: {_inline(', '.join(story.sources))} · "
            f"{', '.join(story.languages)} · {story.statements_total} shared statements",
            "",
        ]
        for statement in story.statements[:SUMMARY_STATEMENTS]:
            lines += _statement_lines(statement)
        lines.append("")
    largest = max(shown, key=lambda story: (len(story.articles), story.statements_total))
    if largest.coverage:
        # Sources down, statements across (numbered): outlets' names as column headers made
        # the table wider than the UI's column.
        coverage = largest.coverage[:SUMMARY_COVERAGE]
        lines += [f"## Coverage of the largest story: {_inline(largest.title)}", ""]
        lines += [f"{n}. {_inline(_short(text, 120))}" for n, (text, _) in enumerate(coverage, 1)]
        lines.append("")
        lines += _table(
            ("source", *(str(n) for n in range(1, len(coverage) + 1))),
            [
                (source, *("✓" if line[column] else "·" for _, line in coverage))
                for column, source in enumerate(largest.coverage_sources)
            ],
        )
        lines.append("")
    return lines


def _statement_lines(statement: StatementView) -> list[str]:
    lines = [
        f"- **{_inline(_short(statement.representative))}** "
        f"({len(statement.sources)} sources, {', '.join(statement.languages)})"
    ]
    for w in statement.wordings:
        english = "".join(text for text, _ in w.english)
        original = f" (original: {_inline(_short(w.original))})" if w.translated else ""
        lines.append(
            f"    - {_inline(w.source)}, {w.lang}, {w.when}: {_inline(_short(english))}{original}"
        )
    return lines


def _inline(text: str) -> str:
    """Text shown as it is inside a markdown line (no markup, links or HTML of its own)."""
    return "".join(f"\\{c}" if c in "\\`*_[]<>#|!~" else c for c in text).replace("\n", " ")


def top_statements_table(view: RunView, limit: int = TABLE_STATEMENTS) -> list[dict]:
    """The statements carried by the most sources across the shown stories, a row each: its
    text (cut to TABLE_TEXT_CHARS), how many sources and which languages carry it, and its
    first carrier. The UI does not wrap table cells, so the wordings are in the run summary's
    lists and the report, not here."""
    statements = sorted(
        (s for story in view.stories for s in story.statements),
        key=lambda s: (-len(s.sources), -len(s.languages), s.id),
    )
    return [
        {
            "statement": _short(s.representative, TABLE_TEXT_CHARS),
            "sources": len(s.sources),
            "languages": ", ".join(s.languages),
            "first carrier": _short(s.wordings[0].source, 20),
        }
        for s in statements[:limit]
    ]


def _collected(reports: list[SourceReport]) -> list[str]:
    if not reports:
        return []
    lines = ["## Collected from the web", ""]
    lines += _table(
        ("source", "new", "unchanged", "duplicate", "failed"),
        [(r.name, r.new, r.unchanged, r.duplicates, len(r.failed)) for r in reports],
    )
    failures = [(r.name, url, why) for r in reports for url, why in r.failed.items()]
    if failures:
        lines += ["", "### Failed URLs", ""]
        lines += _table(("source", "url", "reason"), failures[:SHOWN_REJECTS])
        if len(failures) > SHOWN_REJECTS:
            lines += ["", f"... and {len(failures) - SHOWN_REJECTS} more"]
    return [*lines, ""]


def _rejects(rejects: list[Reject]) -> list[str]:
    if not rejects:
        return []
    lines = ["", "## Rejected inputs", ""]
    lines += _table(("input", "reason"), [(r.input, r.reason) for r in rejects[:SHOWN_REJECTS]])
    if len(rejects) > SHOWN_REJECTS:
        lines += ["", f"... and {len(rejects) - SHOWN_REJECTS} more in rejects.csv"]
    return lines
