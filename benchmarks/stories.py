"""Story quality: are articles about one event one story, and articles about others not?

    python -m benchmarks.stories [--synthetic N] [--set stories.KEY=VALUE ...]

Each corpus is run through the whole pipeline as a user would (`pipeline.run.run`, default
config plus `--set` overrides). Without --synthetic, one corpus mixes every labelled set of
real or hand-written news we have:
- the five seed pages (../shared/corpus/seeds; one event, as scraped; each page its own source;
  the Russian one through reference translations), when ../shared is there;
- data/sample (one event, eight outlets, en/ru/uk through its translation memory);
- tests/gold/paraphrase: 24 events told by two outlets each, and 8 articles on the same topics
  as some of them about other events (the same bank's other rate decision, another fire).
  An article's event is its file name.

With --synthetic N: N articles of benchmarks/story_corpus.py (N // 20 stories over a year,
en/ru/uk through a translation memory, stories at one place in one week among them); `make
bench` runs it with 1,000 articles (quick: 300) against the issue's goals.

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
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.alignment import GOLD, ROOT, SEEDS, bench_config, seeds_memory
from benchmarks.common import Measurement, log
from benchmarks.story_corpus import write_story_corpus
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


@dataclass(frozen=True)
class StoryScore:
    articles: int
    stories: int
    events: int
    precision: float
    recall: float
    f1: float
    links: int
    links_across: int  # links between articles of different events
    wrong: list[tuple[str, str]]  # article pairs in one story, about two events


def run_and_score(
    corpus: Path, event_of: Callable[[str], str], memories: list[Path], work: Path, settings
) -> StoryScore:
    """Run `corpus` (outputs and cache under `work`) and score its stories against events."""
    result = run(corpus, bench_config(work / "out", work / "cache", memories, list(settings)))
    with (result.run_dir / "articles.csv").open(encoding="utf-8", newline="") as handle:
        story_of = {row["article"]: row["story"] for row in csv.DictReader(handle)}
    with (result.run_dir / "alignments.csv").open(encoding="utf-8", newline="") as handle:
        links = [(row["article_a"], row["article_b"]) for row in csv.DictReader(handle)]
    members: dict[str, list[str]] = defaultdict(list)
    for article, story in story_of.items():
        members[story].append(article)
    events = Counter(event_of(a) for a in story_of)
    same_event = sum(n * (n - 1) // 2 for n in events.values())
    same_story = both = 0
    wrong = []
    for group in members.values():
        same_story += len(group) * (len(group) - 1) // 2
        for a, b in itertools.combinations(sorted(group), 2):
            if event_of(a) == event_of(b):
                both += 1
            else:
                wrong.append((a, b))
    precision, recall = both / max(same_story, 1), both / max(same_event, 1)
    return StoryScore(
        len(story_of), len(members), len(events), precision, recall,
        2 * precision * recall / max(precision + recall, 1e-9), len(links),
        sum(1 for a, b in links if event_of(a) != event_of(b)), wrong,
    )  # fmt: skip


def synthetic(articles: int, work: Path, settings=()) -> StoryScore:
    """Score the stories of a benchmarks/story_corpus.py corpus of `articles` articles."""
    story_of, memory = write_story_corpus(work / "in", articles)
    return run_and_score(work / "in", lambda a: str(story_of[a]), [memory], work, settings)


def run_bench(quick: bool, workdir: Path) -> list[Measurement]:
    """`make bench`: story quality on the synthetic corpus against the issue's goals."""
    count = 300 if quick else 1000
    work = workdir / "stories"
    work.mkdir()
    started = time.perf_counter()
    got = synthetic(count, work)
    log.info("stories: %d articles in %.0f s", count, time.perf_counter() - started)
    notes = (
        f"{count} synthetic articles (benchmarks/story_corpus.py), {got.events} stories over a "
        f"year, en/ru/uk; found {got.stories} stories"
    )
    return [
        Measurement("story_pairs_f1", got.f1, 1.0, got.f1, ">= 0.95", "F1", notes),
        Measurement(
            "links_across_stories_share", got.links_across, got.links,
            got.links_across / max(got.links, 1), "<= 0.05", "links",
            "links between articles of different known stories, of all links; " + notes,
        ),
    ]  # fmt: skip


def print_score(got: StoryScore) -> None:
    print(f"{got.articles} articles, {got.stories} stories, {got.events} events")
    print(
        f"same-story article pairs: P {got.precision:.3f} R {got.recall:.3f} F1 {got.f1:.3f} "
        f"({len(got.wrong)} wrong)"
    )
    print(f"links between articles of different events: {got.links_across} of {got.links}")
    for a, b in got.wrong[:20]:
        print(f"  one story, two events: {a} ~ {b}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--synthetic", type=int, metavar="N", help="N synthetic articles")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        if args.synthetic:
            print_score(synthetic(args.synthetic, work, args.set))
            return
        event_of, memories = mixed_corpus(work / "in")
        print_score(
            run_and_score(work / "in", lambda a: event(a, event_of), memories, work, args.set)
        )


if __name__ == "__main__":
    main()
