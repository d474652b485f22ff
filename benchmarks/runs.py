"""Whole runs (pipeline.run.run) on synthetic corpora: reruns, one new article, memory, scale.

Every run is its own process (benchmarks/child.py), so peak RSS is that run's alone and the
caches are the only thing one run hands the next. Sizes: 10, 100 and 1,000 articles, each from
a cold cache; then the 1,000-article corpus again unchanged (rerun) and with one article added
(incremental), both over the warm cache and output folder.

Translation runs Transformer-base models on every Russian and Ukrainian sentence, so a first run
pays what a real one does; the English the pipeline then embeds and aligns is the generator's
reference translation (see benchmarks/child.py).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.common import Measurement, log
from benchmarks.synthetic_corpus import write_corpus
from benchmarks.translate import install_base_models
from pipeline.translate.memory import normalise
from pipeline.translate.packages import find_package

SIZES = (10, 100, 1000)  # the same in --quick: a cold 1,000-article run takes ~2.5 minutes


def _child(work: Path, packages: Path) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "benchmarks.child", "--input", str(work / "corpus"),
        "--output", str(work / "outputs"), "--cache", str(work / "cache"),
        "--packages", str(packages), "--reference", str(work / "reference.tsv"),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pipeline run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _expected_unique_work(run_dir: Path) -> tuple[int, int]:
    """(unique texts machine-translated, unique English texts) from sentences.csv."""
    sources: dict[str, set[str]] = defaultdict(set)
    english = set()
    with (run_dir / "sentences.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["english_origin"] == "mt":
                sources[row["lang"]].add(normalise(row["original"]))
            if row["english"]:
                english.add(row["english"])
    return sum(len(texts) for texts in sources.values()), len(english)


def run(workdir: Path) -> list[Measurement]:
    sizes = SIZES
    packages = workdir / "packages"  # Transformer-base; the translate group builds them first
    if find_package(packages, "uk", "en") is None:
        install_base_models(packages)
    model_note = (
        "Transformer-base random-weight translation models decoding every sentence (32 tokens "
        "at most), their output replaced by the generator's reference English"
    )
    runs: dict[int, dict[str, Any]] = {}
    results: list[Measurement] = []
    for size in sizes:
        work = workdir / f"runs-{size}"
        shutil.rmtree(work, ignore_errors=True)
        write_corpus(work / "corpus", size, seed=0, reference=work / "reference.tsv")
        log.info("runs: first run over %d articles (cold cache)", size)
        runs[size] = _child(work, packages)
        log.info("runs: %d articles in %.1f s", size, runs[size]["wall_s"])

    largest = sizes[-1]
    work = workdir / f"runs-{largest}"
    first = runs[largest]
    translated, embedded = _expected_unique_work(Path(first["run_dir"]))
    counts = first["counts"]
    log.info("runs: rerun over %d unchanged articles", largest)
    rerun = _child(work, packages)
    dedup_ok = counts["translated_new"] == translated and counts["embedded_new"] == embedded
    rerun_ok = rerun["counts"]["translated_new"] == 0 and rerun["counts"]["embedded_new"] == 0
    results.append(
        Measurement(
            "rerun_speedup", rerun["wall_s"], first["wall_s"], first["wall_s"] / rerun["wall_s"],
            ">= 20", "s",
            f"{largest} articles, {counts['sentences']} sentences; {model_note}. First run "
            f"translated {counts['translated_new']} (unique MT sources in sentences.csv: "
            f"{translated}) and embedded {counts['embedded_new']} (unique English: {embedded}): "
            f"duplicates done once: {dedup_ok}. Rerun translated "
            f"{rerun['counts']['translated_new']}, embedded {rerun['counts']['embedded_new']}: "
            f"{rerun_ok}. Rerun seconds by stage: {rerun['seconds']}",
        )
    )  # fmt: skip

    write_corpus(work / "corpus", 1, seed=0, first=largest, reference=work / "reference.tsv")
    log.info("runs: one article added to %d", largest)
    added = _child(work, packages)
    results.append(
        Measurement(
            "incremental_cost", added["wall_s"], first["wall_s"], added["wall_s"] / first["wall_s"],
            "<= 0.05", "s",
            f"article {largest + 1} added to {largest} (warm caches): translated "
            f"{added['counts']['translated_new']}, embedded {added['counts']['embedded_new']}, "
            f"segmented {added['counts']['articles_segmented']}; seconds by stage: "
            f"{added['seconds']}",
        )
    )  # fmt: skip

    smallest = runs[sizes[0]]["peak_rss_mib"]
    for size in sizes:
        rss = runs[size]["peak_rss_mib"]
        results.append(
            Measurement(
                f"peak_rss[{size}_articles]", rss, smallest, rss / smallest, "", "MiB",
                f"peak RSS of a cold run over {size} articles ({runs[size]['counts']['sentences']}"
                f" sentences) against the {sizes[0]}-article run",
            )
        )  # fmt: skip

    middle = runs[sizes[1]]
    stages = sorted(set(first["seconds"]) | set(middle["seconds"]))
    for stage in stages:
        big = first["counts"]["sentences"] / max(first["seconds"].get(stage, 0), 1e-3)
        mid = middle["counts"]["sentences"] / max(middle["seconds"].get(stage, 0), 1e-3)
        results.append(
            Measurement(
                f"throughput[{stage}]", big, mid, big / mid, "", "sentences/s",
                f"sentences/s at {largest} articles vs {sizes[1]} (ratio ~1: linear cost; "
                f"> 1: fixed costs amortised). By size: "
                + ", ".join(
                    f"{size}: {runs[size]['counts']['sentences'] / max(runs[size]['seconds'].get(stage, 0), 1e-3):.0f}"  # noqa: E501
                    for size in sizes
                ),
            )
        )  # fmt: skip
    return results
