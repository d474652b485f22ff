"""One article added to an accumulated corpus of 100, 1,000 and 10,000 articles.

    python -m benchmarks.incremental [--sizes 100,1000,10000] [--repeats 3]

For each size, N articles of benchmarks/story_corpus.py (N / 20 stories over a year, en/ru/uk
through its translation memory) are run once in accumulate mode into one output folder: the
accumulated corpus. Then articles N+1, N+2, ... arrive one at a time, each in an inbox of its
own, and `parallax run` runs over it as the scheduled flow does: a whole process (imports,
config, registry, every stage, export), with the embedding server (pipeline.embed_server)
holding the model, as `make serve` runs it. The sizes take turns, so each +1 run at 10,000 is
measured beside one at 100 on the same noisy machine; medians are reported.

Goals (issue 14): the +1 run at 10,000 articles costs at most 1.5 x the +1 run at 100, and its
peak memory at most 1.5 x that at 1,000. The cold runs that build each corpus are recorded too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Measurement, log
from benchmarks.runs import embed_server
from benchmarks.story_corpus import write_story_corpus

SIZES = (100, 1000, 10000)
# --quick: smaller corpora, to stay under its 10 minutes (the goals are not judged at these sizes).
QUICK_SIZES = (100, 300)


def parallax(args: list[str]) -> dict[str, Any]:
    """Run `parallax ARGS` as a process; its wall time, peak RSS and run.json counts."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "benchmarks.measured", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"parallax {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    if "not used" in done.stderr:
        raise RuntimeError(f"the run did not use the embedding server:\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    output = Path(args[args.index("--output") + 1])
    info = json.loads((output / "latest" / "run.json").read_text(encoding="utf-8"))
    return {"wall_s": wall, **summary, "counts": info["counts"], "seconds": info["seconds"]}


def prepare(work: Path, size: int, extra: int) -> list[Path]:
    """Write size + extra articles; the first `size` go to work/inbox, each other to an inbox
    of its own (returned, in order). Outputs of an earlier benchmark there are removed, its
    cache is kept (the same texts: the cold run is then warm)."""
    for old in ("all", "inbox", "out", *(f"plus{n}" for n in range(extra))):
        shutil.rmtree(work / old, ignore_errors=True)
    _, tm = write_story_corpus(work / "all", size + extra)
    shutil.move(tm, work / "tm.tsv")
    inboxes = [work / f"plus{n}" for n in range(extra)]
    for feed in (work / "all").glob("*/feed.jsonl"):
        for line in feed.read_text(encoding="utf-8").splitlines():
            number = int(json.loads(line)["id"][1:])
            folder = work / "inbox" if number < size else inboxes[number - size]
            (folder / feed.parent.name).mkdir(parents=True, exist_ok=True)
            with (folder / feed.parent.name / "feed.jsonl").open("a", encoding="utf-8") as out:
                out.write(line + "\n")
    return inboxes


def run(workdir: Path, sizes: tuple[int, ...] = SIZES, repeats: int = 3) -> list[Measurement]:
    with embed_server(workdir) as socket_path:
        config = workdir / "accumulate.yaml"
        config.write_text(
            f"corpus:\n  accumulate: true\nembed:\n  server_socket: {socket_path}\n",
            encoding="utf-8",
        )
        cold, plus, inboxes = {}, {size: [] for size in sizes}, {}

        def args(size: int, inbox: Path) -> list[str]:
            work = workdir / f"n{size}"
            return [
                "run", "--input", str(inbox), "--output", str(work / "out"), "--cache-dir",
                str(work / "cache"), "--config", str(config), "--tm", str(memory),
            ]  # fmt: skip

        for size in sizes:
            inboxes[size] = prepare(workdir / f"n{size}", size, repeats)
        # One translation memory for every size (all their reference translations): the
        # memory is the user's, and reading it costs the same whatever the corpus holds.
        memory = workdir / "tm.tsv"
        with memory.open("w", encoding="utf-8") as out:
            for size in sizes:
                out.write((workdir / f"n{size}" / "tm.tsv").read_text(encoding="utf-8"))
        for size in sizes:
            log.info("incremental: cold run over %d articles", size)
            cold[size] = parallax(args(size, workdir / f"n{size}" / "inbox"))
            log.info("incremental: %d articles in %.0f s", size, cold[size]["wall_s"])
        for repeat in range(repeats):
            for size in sizes:
                plus[size].append(parallax(args(size, inboxes[size][repeat])))
                log.info("incremental: +1 at %d: %.2f s", size, plus[size][-1]["wall_s"])
    return measurements(sizes, cold, plus)


def run_bench(quick: bool, workdir: Path) -> list[Measurement]:
    """`make bench`: the goals at 10,000 articles (quick: the same figures at 300)."""
    work = workdir / "incremental"
    work.mkdir()
    return run(work, QUICK_SIZES if quick else SIZES)


def measurements(
    sizes: tuple[int, ...], cold: dict[int, dict], plus: dict[int, list[dict]]
) -> list[Measurement]:
    small, large = sizes[0], sizes[-1]
    middle = sizes[-2] if len(sizes) > 2 else sizes[0]
    wall = {size: statistics.median(r["wall_s"] for r in plus[size]) for size in sizes}
    rss = {size: statistics.median(r["peak_rss_mib"] for r in plus[size]) for size in sizes}

    def detail(size: int) -> str:
        last = plus[size][-1]
        counts = last["counts"]
        return (
            f"{size}: {wall[size]:.2f} s, {rss[size]:.0f} MiB, processed "
            f"{counts['articles_processed']} article(s), aligned {counts['stories_aligned']} of "
            f"{counts['stories']} stories; seconds by stage {last['seconds']}"
        )

    runs = "; ".join(detail(size) for size in sizes)
    # The goals are set at 10,000 articles; smaller sets (--quick) are not judged.
    goal = "<= 1.5" if large >= 10000 else ""
    cold_notes = "; ".join(
        f"{size}: {cold[size]['wall_s']:.0f} s, {cold[size]['peak_rss_mib']:.0f} MiB"
        for size in sizes
    )
    return [
        Measurement(
            f"incremental_flat_cost[{large}_vs_{small}]", wall[large], wall[small],
            wall[large] / wall[small], goal, "s",
            f"+1 article, whole `parallax run` process with the embedding server up, median of "
            f"{len(plus[large])} taking turns. {runs}",
        ),
        Measurement(
            f"incremental_peak_rss[{large}_vs_{middle}]", rss[large], rss[middle],
            rss[large] / rss[middle], goal, "MiB",
            f"peak RSS of the +1 run. Cold runs building each corpus: {cold_notes}",
        ),
        Measurement(
            f"cold_peak_rss[{large}_vs_{middle}]", cold[large]["peak_rss_mib"],
            cold[middle]["peak_rss_mib"],
            cold[large]["peak_rss_mib"] / cold[middle]["peak_rss_mib"], "", "MiB",
            f"peak RSS of the first run over the whole corpus. {cold_notes}",
        ),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--keep", type=Path,
        help="work here and keep it (default: a temp dir); run again, it reuses the caches",
    )  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    sizes = tuple(int(size) for size in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="parallax-incremental-") as folder:
        workdir = args.keep or Path(folder)
        workdir.mkdir(parents=True, exist_ok=True)
        for m in run(workdir, sizes, args.repeats):
            print(f"{m.name}: {m.value:.3g} vs {m.baseline:.3g} = {m.ratio:.3f} (goal {m.goal})")
            print(f"  {m.notes}")


if __name__ == "__main__":
    main()
