"""Story quality: are articles about one event one story, and articles about others not?

    python -m benchmarks.stories [--set stories.KEY=VALUE ...]

One corpus mixes every labelled set we have, run through the whole pipeline as a user would
(`pipeline.run.run`, default config plus `--set` overrides):
- the five seed pages (../shared/corpus/seeds; one event, as scraped; each page its own source;
  the Russian one through reference translations), when ../shared is there;
- data/sample (one event, eight outlets, en/ru/uk through its translation memory);
- tests/gold/paraphrase: 24 events told by two outlets each, and 8 articles on the same topics
  as some of them about other events (the same bank's other rate decision, another fire).
  An article's event is its file name.

Reported, pairwise over article pairs (Allan et al. 1998, the TDT clustering measure):
precision, recall and F1 of "same story", the article pairs that share a story but not an
event, and the share of alignments.csv's links that join articles of different events.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import shutil
import tempfile
from pathlib import Path

from benchmarks.alignment import GOLD, ROOT, SEEDS, parse_setting, seeds_memory
from pipeline.config import load_config
from pipeline.run import run

SAMPLE = ROOT / "data" / "sample"


def mixed_corpus(folder: Path) -> tuple[dict[str, str], list[Path]]:
    """Write the mixed corpus under `folder`; returns each article's event, and the memories."""
    event_of: dict[str, str] = {}
    memories = [SAMPLE / "tm.tsv"]
    if SEEDS.is_dir():
        for page in sorted(SEEDS.glob("*.txt")):
            outlet = folder / f"seed-{page.name[:3]}"
            outlet.mkdir(parents=True)
            shutil.copyfile(page, outlet / page.name)
            event_of[f"{outlet.name}/{page.name}"] = "seeds"
        memories.append(seeds_memory(folder.parent / "seeds.tsv"))
    else:
        print(f"{SEEDS} is absent: the seed pages are left out")
    shutil.copytree(SAMPLE / "articles", folder, dirs_exist_ok=True)
    shutil.copytree(GOLD / "paraphrase", folder, dirs_exist_ok=True)
    for path in (GOLD / "paraphrase").glob("*/*.txt"):
        event_of[f"{path.parent.name}/{path.name}"] = "paraphrase:" + path.stem
    return event_of, memories


def event(article: str, event_of: dict[str, str]) -> str:
    # The sample's feed file holds several articles ("feed.jsonl#id"): all one event.
    return event_of.get(article, "sample")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides: dict = {}
    for setting in args.set:
        keys, value = parse_setting(setting)
        node = overrides
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        event_of, memories = mixed_corpus(work / "in")
        overrides.setdefault("paths", {}).update(
            {"output_dir": str(work / "out"), "cache_dir": str(work / "cache")}
        )
        overrides.setdefault("translate", {}).update(
            {"tm_files": [str(m) for m in memories], "packages_dir": str(work / "none")}
        )
        result = run(work / "in", load_config(overrides=overrides))
        with (result.run_dir / "articles.csv").open(encoding="utf-8", newline="") as handle:
            story_of = {row["article"]: row["story"] for row in csv.DictReader(handle)}
        with (result.run_dir / "alignments.csv").open(encoding="utf-8", newline="") as handle:
            links = [(row["article_a"], row["article_b"]) for row in csv.DictReader(handle)]
    both = same_story = same_event = 0
    wrong = []
    for a, b in itertools.combinations(sorted(story_of), 2):
        together, one_event = story_of[a] == story_of[b], event(a, event_of) == event(b, event_of)
        both += together and one_event
        same_story += together
        same_event += one_event
        if together and not one_event:
            wrong.append((a, b))
    precision, recall = both / max(same_story, 1), both / max(same_event, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    across = sum(1 for a, b in links if event(a, event_of) != event(b, event_of))
    events = {event(a, event_of) for a in story_of}
    print(f"{len(story_of)} articles, {len(set(story_of.values()))} stories, {len(events)} events")
    print(
        f"same-story article pairs: P {precision:.3f} R {recall:.3f} F1 {f1:.3f} "
        f"({both} of {same_event} same-event pairs found, {same_story - both} wrong)"
    )
    print(f"links between articles of different events: {across} of {len(links)}")
    for a, b in wrong:
        print(f"  one story, two events: {a} ~ {b}")


if __name__ == "__main__":
    main()
