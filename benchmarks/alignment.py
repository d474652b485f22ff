"""Alignment quality on every gold set, beside the baseline to beat.

    python -m benchmarks.alignment [--set align.KEY=VALUE ...] [--only NAME ...]

Each gold corpus is run through the whole pipeline (default config, with `--set` overrides),
scored with `parallax evaluate`'s rules, and compared with plain cosine mutual best at its own
best threshold on that gold (swept from 0.30 to 0.90): the baseline gets the benefit of tuning
on every set, Parallax runs with one configuration for all of them.

Gold sets:
- sample: data/sample, its translation memory; the set the default thresholds were first set on.
- seeds-en: the four English seed pages (../shared/corpus/seeds), raw, noise included.
- seeds-refs: all five seed pages, the Russian one through reference translations; its
  statement groups are scored too, against tests/gold/seeds_groups.yaml (pairwise).
- paraphrase: tests/gold/paraphrase, 24 stories told twice in other words, with one-to-many
  links, short briefs and 8 articles on the same topics that carry different claims.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from pipeline.clean import clean_text
from pipeline.config import Config, load_config
from pipeline.embed import Embedder, embed_texts
from pipeline.evaluate import (
    cosine_baseline,
    load_gold,
    load_gold_groups,
    read_groups,
    read_predictions,
    read_sentences,
    score,
    score_groups,
)
from pipeline.normalise import normalise_text
from pipeline.run import run
from pipeline.segment import split_sentences
from pipeline.store import Store

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "tests" / "gold"
SEEDS = ROOT.parent / "shared" / "corpus" / "seeds"
BASELINE_THRESHOLDS = [round(0.30 + 0.01 * step, 2) for step in range(61)]


@dataclass(frozen=True)
class GoldSet:
    name: str
    corpus: Callable[[Path], tuple[Path, list[Path]]]  # work folder -> (input, memories)
    gold: Path
    articles: Callable[[set[str]], set[str]] = lambda articles: articles  # which are scored
    groups: Path | None = None  # a gold of statement groups, where there is one


def _sample(work: Path) -> tuple[Path, list[Path]]:
    return ROOT / "data" / "sample" / "articles", [ROOT / "data" / "sample" / "tm.tsv"]


def _seeds_en(work: Path) -> tuple[Path, list[Path]]:
    corpus = work / "seeds-en"
    corpus.mkdir()
    for page in SEEDS.glob("*.txt"):
        if not page.name.startswith("003_"):  # the Russian page
            shutil.copyfile(page, corpus / page.name)  # a scratch copy: links are not read
    return corpus, []


def seeds_memory(path: Path) -> Path:
    """Reference translations of the Russian seed page, one per segmented sentence (TSV)."""
    (russian,) = SEEDS.glob("003_*.txt")
    text = clean_text(normalise_text(russian.read_text(encoding="utf-8"))).text
    english = (GOLD / "seeds_003_en.txt").read_text(encoding="utf-8").splitlines()
    sources = split_sentences(text)
    if len(sources) != len(english):
        raise SystemExit("tests/gold/seeds_003_en.txt no longer follows page 003's segmentation")
    path.write_text(
        "".join(f"{s}\t{e}\n" for s, e in zip(sources, english, strict=True)), encoding="utf-8"
    )
    return path


def _seeds_refs(work: Path) -> tuple[Path, list[Path]]:
    return SEEDS, [seeds_memory(work / "seeds_003.tsv")]


def _paraphrase(work: Path) -> tuple[Path, list[Path]]:
    return GOLD / "paraphrase", []


GOLD_SETS = (
    GoldSet("sample", _sample, GOLD / "sample.yaml"),
    GoldSet(
        "seeds-en",
        _seeds_en,
        GOLD / "seeds.yaml",
        lambda articles: {a for a in articles if not a.startswith("003_")},
    ),
    GoldSet("seeds-refs", _seeds_refs, GOLD / "seeds.yaml", groups=GOLD / "seeds_groups.yaml"),
    GoldSet("paraphrase", _paraphrase, GOLD / "paraphrase.yaml"),
)


def parse_setting(text: str) -> tuple[list[str], object]:
    key, _, value = text.partition("=")
    return key.split("."), yaml.safe_load(value)


def bench_config(output: Path, cache: Path, memories: list[Path], settings: list[str]) -> Config:
    """The default config with this run's folders and memories, no translation models (a
    folder that holds none), and the `--set KEY=VALUE` overrides on top."""
    overrides: dict = {
        "paths": {"output_dir": str(output), "cache_dir": str(cache)},
        "translate": {
            "tm_files": [str(m) for m in memories],
            "packages_dir": str(output.parent / "none"),
        },
    }
    for setting in settings:
        keys, value = parse_setting(setting)
        node = overrides
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return load_config(overrides=overrides)


def evaluate_set(
    gold_set: GoldSet, work: Path, cache: Path, settings: list[str], baseline: bool = True
) -> dict[str, object]:
    """One gold set through the pipeline (`settings`: KEY=VALUE overrides) and scored; with
    `baseline`, the cosine baseline at its best threshold beside it."""
    corpus, memories = gold_set.corpus(work)
    config = bench_config(work / f"out-{gold_set.name}", cache, memories, settings)
    result = run(corpus, config)
    articles, gold = load_gold(gold_set.gold)
    articles = gold_set.articles(articles)
    gold = [g for g in gold if g.a.article in articles and g.b.article in articles]
    ours = score(read_predictions(result.run_dir / "alignments.csv"), articles, gold)
    best = (None, None)
    if baseline:
        sentences = [s for s in read_sentences(result.run_dir / "sentences.csv") if s.english]
        embedder = Embedder(config.embed, config.paths.cache_dir)
        with contextlib.closing(Store(cache)) as store:
            vectors, _ = embed_texts([s.english for s in sentences], embedder, store)
        best = max(
            (
                (score(cosine_baseline(sentences, np.asarray(vectors), t), articles, gold), t)
                for t in BASELINE_THRESHOLDS
            ),
            key=lambda pair: pair[0].f1,
        )
    groups = None
    if gold_set.groups is not None:
        group_articles, gold_groups = load_gold_groups(gold_set.groups)
        groups = score_groups(
            read_groups(result.run_dir / "statements.csv"), group_articles, gold_groups
        )
    return {
        "groups": groups,
        "gold": gold_set.name,
        "strong pairs": ours.strong,
        "parallax": ours,
        "baseline": best[0],
        "threshold": best[1],
        "align seconds": result.seconds.get("align", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--only", action="append", metavar="NAME", help="one gold set by name")
    parser.add_argument("--misses", action="store_true", help="print misses and false alarms")
    args = parser.parse_args()
    chosen = [g for g in GOLD_SETS if not args.only or g.name in args.only]
    if not SEEDS.is_dir():
        chosen = [g for g in chosen if not g.name.startswith("seeds")]
        print(f"{SEEDS} is absent: the seed golds are left out")
    print("| gold | strong pairs | Parallax P / R / F1 | cosine mutual best, best threshold |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache"
        for gold_set in chosen:
            work = Path(scratch) / gold_set.name
            work.mkdir()
            row = evaluate_set(gold_set, work, cache, args.set)
            ours, base = row["parallax"], row["baseline"]
            print(
                f"| {row['gold']} | {row['strong pairs']} | {ours.precision:.2f} / "
                f"{ours.recall:.2f} / {ours.f1:.3f} | {base.precision:.2f} / {base.recall:.2f} / "
                f"{base.f1:.3f} (cosine >= {row['threshold']:.2f}) |"
            )
            if row["groups"] is not None:
                groups = row["groups"]
                print(
                    f"|   {row['gold']}: statement groups, pairwise | {groups.gold} gold pairs | "
                    f"{groups.precision:.2f} / {groups.recall:.2f} / {groups.f1:.3f} | |"
                )
            if args.misses:
                for miss in ours.misses:
                    print(f"    miss: {miss.a.anchor!r} ~ {miss.b.anchor!r}")
                for alarm in ours.false_alarms:
                    print(f"    false: {alarm.texts_a[1]!r} ~ {alarm.texts_b[1]!r}")


if __name__ == "__main__":
    main()
