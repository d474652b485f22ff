"""Run every benchmark and write benchmarks/results/latest.json and latest.md.

    python -m benchmarks.run [--quick]

--quick: smaller sizes (said in each note), 7 to 9 minutes on 2 cores (the goal is under 10).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from benchmarks import ann, collect, embed, executor, incremental, runs, stories, translate  # noqa: E402
from benchmarks.common import Measurement, log, machine, write_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes: 7 to 9 minutes on 2 cores"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    mode = "quick" if args.quick else "full"
    measurements: list[Measurement] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="parallax-bench-") as folder:
        workdir = Path(folder)
        groups = (
            ("translate", lambda: translate.run(args.quick, workdir)),
            ("embed", lambda: embed.run(args.quick)),
            ("executor", lambda: executor.run(args.quick, workdir)),
            ("ann", lambda: ann.run(args.quick)),
            ("runs", lambda: runs.run(args.quick, workdir)),
            ("collect", lambda: collect.run(args.quick, workdir)),
            ("stories", lambda: stories.run_bench(args.quick, workdir)),
            ("incremental", lambda: incremental.run_bench(args.quick, workdir)),
        )
        for name, group in groups:
            log.info("== %s", name)
            group_start = time.perf_counter()
            measurements += group()
            log.info("== %s done in %.0f s", name, time.perf_counter() - group_start)
            write_results(machine(), measurements, mode)  # partial results survive a crash
    path = write_results(machine(), measurements, mode)
    log.info("all done in %.0f s: %s", time.perf_counter() - started, path)
    for m in measurements:
        verdict = {True: "ok", False: "MISSES GOAL", None: ""}[m.meets_goal]
        print(f"{m.name:50s} {m.ratio:10.4g} {m.goal:8s} {verdict}")


if __name__ == "__main__":
    main()
