"""What the Prefect UI shows for a run: a markdown summary and a table of top statements.

Plain functions from a RunResult to markdown text or table rows, so they are tested without
a server; align_articles.py publishes them.
"""

from __future__ import annotations

from pipeline.collect import SourceReport
from pipeline.records import SPAN_SEPARATOR, MissingModel, Reject
from pipeline.run import RunResult
from pipeline.translate.packages import install_file_command

TOP_ALIGNMENTS = 25
SHOWN_REJECTS = 20
OUTPUT_FILES = (
    "sentences.csv", "alignments.csv", "statements.csv", "coverage.csv", "unique.csv",
    "articles.csv", "stories.csv", "rejects.csv", "run.json",
)  # fmt: skip


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


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
            lines.append(
                f"> **Warning: {m.sentences} {m.lang} sentences have no English side** (no "
                f"{m.lang}→en model is installed). {cost} Install it with `{m.install_command}` "
                f"(offline: `{install_file_command()}`); the next run fills them in."
            )
        else:
            lines.append(
                f"> **Warning: {m.sentences} sentences in languages Parallax does not translate "
                f"have no English side.** {cost}"
            )
    return lines


def summary_markdown(result: RunResult, input_dir: str, collected: list[SourceReport] = ()) -> str:
    """The run-summary artifact: what was collected, warnings, then counts, rejects, timings
    and outputs."""
    lines = [f"# Parallax run `{result.run_id or 'not written'}`", ""]
    lines += _collected(collected)
    if result.run_dir is None:
        lines += [
            f"**Nothing was read from `{input_dir}`**: no run was written, and `latest` still "
            f"points at the previous run. {len(result.rejects)} inputs rejected."
        ]
        lines += _rejects(result.rejects)
        return "\n".join(lines) + "\n"
    for warning in skipped_warnings(result.missing):
        lines += [warning, ""]
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
    lines += ["", "## Outputs", "", f"- run folder: `{result.run_dir}`"]
    lines += [f"- `{result.run_dir / name}`" for name in OUTPUT_FILES]
    return "\n".join(lines) + "\n"


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


def highlight(text: str, spans: str) -> str:
    """`text` with each divergent span (joined by SPAN_SEPARATOR) marked ⟦like this⟧ (table
    cells show plain text)."""
    for span in spans.split(SPAN_SEPARATOR) if spans else ():
        text = text.replace(span, f"⟦{span}⟧", 1)
    return text


def top_alignments_table(result: RunResult, limit: int = TOP_ALIGNMENTS) -> list[dict]:
    """The best-scoring aligned statements: both originals, both English sides with the words
    only one side has marked ⟦…⟧, and the scores."""
    best = sorted(result.alignments, key=lambda x: (-x.margin, x.a.article_id, x.a.position))
    rows = []
    for pair in best[:limit]:
        rows.append(
            {
                "margin": round(pair.margin, 3),
                "cosine": round(pair.cosine, 3),
                "article_a": pair.a.article_id,
                "text_a": pair.a.text,
                "english_a": highlight(pair.a.english, pair.only_in_a),
                "article_b": pair.b.article_id,
                "text_b": pair.b.text,
                "english_b": highlight(pair.b.english, pair.only_in_b),
                "only_in_a": pair.only_in_a,
                "only_in_b": pair.only_in_b,
            }
        )
    return rows
