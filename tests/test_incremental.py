"""Accumulate mode re-does only what new articles touch: one article more re-aligns its own
story, copies every other row from the latest run, and writes the same tables as a run over
everything from scratch."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

from benchmarks.story_corpus import write_story_corpus
from pipeline.config import load_config
from pipeline.report import read_run
from pipeline.run import run

TABLES = ("sentences.csv", "alignments.csv", "statements.csv", "coverage.csv", "unique.csv",
          "articles.csv", "stories.csv", "rejects.csv")  # fmt: skip


def config(tmp_path: Path, output: str, tm: Path, accumulate: bool = True):
    return load_config(
        overrides={
            "paths": {"output_dir": str(tmp_path / output), "cache_dir": str(tmp_path / "cache")},
            "corpus": {"accumulate": accumulate},
            "translate": {"tm_files": [str(tm)]},
        }
    )


def split_feed(corpus: Path, inbox: Path, later: set[str]) -> Path:
    """Copy the corpus into `inbox` without the records in `later`; returns a second inbox
    that holds only those."""
    rest = inbox.parent / f"{inbox.name}-later"
    for feed in corpus.glob("*/feed.jsonl"):
        for folder, keep in ((inbox, False), (rest, True)):
            rows = [line for line in feed.read_text(encoding="utf-8").splitlines()
                    if (json.loads(line)["id"] in later) == keep]  # fmt: skip
            if rows:
                (folder / feed.parent.name).mkdir(parents=True, exist_ok=True)
                (folder / feed.parent.name / "feed.jsonl").write_text("\n".join(rows) + "\n")
    return rest


def test_one_new_article_realigns_its_story_only_and_the_tables_equal_a_full_run(tmp_path):
    corpus = tmp_path / "corpus"
    story_of, tm = write_story_corpus(corpus, 48, per_story=12, days=60)
    # The article to come later: the latest-published of its story, so that neither its story's
    # id nor its statements' ids (named after the first article) depend on the order of runs.
    published = {
        f"{feed.parent.name}/feed.jsonl#{row['id']}": row["published"]
        for feed in corpus.glob("*/feed.jsonl")
        for row in map(json.loads, feed.read_text(encoding="utf-8").splitlines())
    }
    last = max(published, key=published.__getitem__)
    later = split_feed(corpus, tmp_path / "inbox", {last.split("#")[1]})

    first = run(tmp_path / "inbox", config(tmp_path, "out", tm))
    assert first.counts["stories"] >= 3
    added = run(later, config(tmp_path, "out", tm))
    counts = added.counts
    assert counts["articles"] == 48 and counts["articles_new"] == 1
    assert counts["articles_processed"] == 1 and counts["articles_segmented"] == 1
    info = json.loads((added.run_dir / "run.json").read_text(encoding="utf-8"))
    with (added.run_dir / "articles.csv").open(encoding="utf-8") as handle:
        its_story = next(line.rsplit(",", 1)[1].strip() for line in handle if line.startswith(last))
    assert info["stories_changed"] == [its_story] and counts["stories_aligned"] == 1
    # Its story alone was grouped anew; the others are the registry's (pipeline/stories.py).
    assert first.counts["stories_grouped"] == first.counts["stories"]
    assert counts["stories_grouped"] == 1
    assert {x.a.article_id for x in added.alignments} <= {
        a for a, s in story_of.items() if s == story_of[last]
    }

    # The same corpus from scratch, every story aligned: the same bytes in every table.
    full = run(corpus, config(tmp_path, "full", tm, accumulate=False))
    assert full.counts["stories_aligned"] == full.counts["stories"]
    for name in TABLES:
        assert (added.run_dir / name).read_bytes() == (full.run_dir / name).read_bytes(), name
    for key in ("sentences", "alignments", "statements", "unique_sentences", "stories"):
        assert counts[key] == full.counts[key], key

    # Nothing new: nothing aligned, every row copied.
    shutil.rmtree(later)
    later.mkdir()
    again = run(later, config(tmp_path, "out", tm))
    assert again.counts["stories_aligned"] == 0 and again.counts["articles_processed"] == 0
    for name in TABLES:
        assert (again.run_dir / name).read_bytes() == (full.run_dir / name).read_bytes(), name

    # A table of the latest run edited by hand, even to the same length: its rows are not
    # trusted, every story is redone.
    latest = again
    for edit in ("append", "same length"):
        path = latest.run_dir / "statements.csv"
        if edit == "append":
            with path.open("a", encoding="utf-8") as handle:
                handle.write("an analyst's note\n")
        else:
            data = path.read_bytes()
            path.write_bytes(data[:-2] + (b"X" if data[-2:-1] != b"X" else b"Y") + data[-1:])
        latest = run(later, config(tmp_path, "out", tm))
        assert latest.counts["stories_aligned"] == latest.counts["stories"], edit
        for name in TABLES:
            assert (latest.run_dir / name).read_bytes() == (full.run_dir / name).read_bytes()

    # The registry's stories damaged by hand: every story is grouped anew, to the same tables.
    with sqlite3.connect(tmp_path / "out" / "corpus.sqlite3") as registry:
        registry.execute("UPDATE stories SET story = '{not json' WHERE rowid = 1")
    regrouped = run(later, config(tmp_path, "out", tm))
    assert regrouped.counts["stories_grouped"] == regrouped.counts["stories"]
    for name in TABLES:
        assert (regrouped.run_dir / name).read_bytes() == (full.run_dir / name).read_bytes()


def test_undated_articles_are_ordered_by_when_the_corpus_first_read_them(tmp_path):
    """Provenance without publication dates: in accumulate mode, an article read in a later
    run cannot have carried a statement first, and the table says the time is a first-seen."""
    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    inbox = tmp_path / "inbox"
    shutil.copytree(sample / "articles", inbox)
    late = inbox / "marenburg-herald" / "barge-spill.txt"  # states no date
    held = tmp_path / "held" / late.parent.name
    held.mkdir(parents=True)
    shutil.move(late, held / late.name)
    first = run(inbox, config(tmp_path, "out", sample / "tm.tsv"))
    assert first.counts["statements"] > 0
    second = run(tmp_path / "held", config(tmp_path, "out", sample / "tm.tsv"))
    late_id = f"{late.parent.name}/{late.name}"
    story_source = late.parent.name  # the folder: its articles' source
    with (second.run_dir / "statements.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    groups = {row["group"] for row in rows if row["article"] == late_id}
    assert groups, "the late article carries no statement"
    first_rows = {}
    for row in rows:  # first carrier first
        first_rows.setdefault(row["group"], row)
    assert all(first_rows[group]["article"] != late_id for group in groups)
    assert all(first_rows[group]["first_published"] for group in groups)
    assert any(row["first_published"].endswith("(first seen)") for row in rows)
    late_rows = [row for row in rows if row["article"] == late_id]
    assert all(float(row["lag_hours"]) >= 0 for row in late_rows)
    with (second.run_dir / "stories.csv").open(encoding="utf-8", newline="") as handle:
        (story,) = list(csv.DictReader(handle))
    assert "marenburg-herald +" in story["later_sources"]  # a time, marked as first seen
    assert story["later_sources"].count("(first seen)") >= 1
    (view,) = read_run(second.run_dir).stories  # the report says so too
    late_when = {w.when for s in view.statements for w in s.wordings if w.source == story_source}
    assert late_when and all(when.endswith("h (first seen)") for when in late_when)
    # Without accumulate mode nothing says when an undated article came: no first carrier time.
    alone = run(inbox, config(tmp_path, "alone", sample / "tm.tsv", accumulate=False))
    with (alone.run_dir / "statements.csv").open(encoding="utf-8", newline="") as handle:
        assert not any(row["first_published"].endswith("(first seen)")
                       for row in csv.DictReader(handle))  # fmt: skip


def test_an_accumulated_output_folder_whose_registry_is_gone_is_refused(tmp_path):
    """Without corpus.sqlite3 the articles no longer in the inbox would silently leave the
    outputs: the run refuses, and starts a new corpus once `latest` is moved aside."""
    import pytest

    from pipeline.corpus import CorpusError

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    inbox = tmp_path / "inbox"
    shutil.copytree(sample / "articles" / "marenburg-herald", inbox / "marenburg-herald")
    assert run(inbox, config(tmp_path, "out", sample / "tm.tsv")).counts["articles"] == 1
    (tmp_path / "out" / "corpus.sqlite3").unlink()
    with pytest.raises(CorpusError, match="is missing, but the latest run"):
        run(inbox, config(tmp_path, "out", sample / "tm.tsv"))
    (tmp_path / "out" / "latest").rename(tmp_path / "out" / "latest-before")
    assert run(inbox, config(tmp_path, "out", sample / "tm.tsv")).counts["articles"] == 1
