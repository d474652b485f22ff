"""Accumulate mode re-does only what new articles touch: one article more re-aligns its own
story, copies every other row from the latest run, and writes the same tables as a run over
everything from scratch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmarks.story_corpus import write_story_corpus
from pipeline.config import load_config
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
