"""One pipeline run in its own process, so its peak memory is its own; prints a JSON summary."""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from pathlib import Path

from pipeline.config import config_from_dict
from pipeline.run import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--packages", type=Path, required=True)
    parser.add_argument("--max-decoding-length", type=int, default=32)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = config_from_dict(
        {
            "paths": {"output_dir": str(args.output), "cache_dir": str(args.cache)},
            "translate": {
                "packages_dir": str(args.packages),
                "max_decoding_length": args.max_decoding_length,
            },
        }
    )
    start = time.perf_counter()
    result = run(args.input, config)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = {"wall_s": wall, "peak_rss_mib": peak_kib / 1024, "run_dir": str(result.run_dir)}
    run_info = json.loads((result.run_dir / "run.json").read_text(encoding="utf-8"))
    summary.update(counts=run_info["counts"], seconds=run_info["seconds"])
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
