"""One pipeline run in its own process, so its peak memory is its own; prints a JSON summary.

With --reference, translation still runs the installed model on every sentence (the real
decoding cost), but the English the pipeline receives is the corpus generator's reference
translation. Random-weight models write long nonsense that would make embedding and alignment
cost what no real model's output does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import time
from pathlib import Path

from benchmarks.stage_rounds import keeping_stages
from pipeline.config import config_from_dict
from pipeline.normalise import matching_key
from pipeline.run import run
from pipeline.translate.argos import ArgosTranslator


def use_reference_english(reference: Path) -> None:
    """Make every Argos translator hand back the reference English after decoding."""
    english_of = {}
    for line in reference.read_text(encoding="utf-8").splitlines():
        text, english = line.split("\t")
        english_of[matching_key(text)] = english
    decode = ArgosTranslator.translate

    def translate(self, sentences, on_chunk=None, **options):
        def swap(indices, machine):
            return [english_of.get(sentences[i], m) for i, m in zip(indices, machine, strict=True)]

        def reference_chunk(indices, machine):
            if on_chunk:
                on_chunk(indices, swap(indices, machine))

        machine = decode(self, sentences, on_chunk=reference_chunk, **options)
        return swap(range(len(sentences)), machine)

    ArgosTranslator.translate = translate


def _why_untranslated(missing: dict, packages: Path) -> str:
    """One of run.json's missing_models in words."""
    lang, failed = missing["lang"], missing["failed_package"]
    cause = (
        f"the package in {failed} fails: see the warning above"
        if failed
        else f"no {lang}→en package in {packages}"
    )
    return f"{missing['sentences']} {lang} sentences ({cause})"


def peak_rss_kib() -> int:
    """This process's own peak resident memory (VmHWM). getrusage's ru_maxrss is not: Linux
    carries it across exec, so a child would report its parent's peak if that were higher."""
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--packages", type=Path, required=True)
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--max-decoding-length", type=int, default=32)
    parser.add_argument("--reference", type=Path, help="text<TAB>english lines")
    parser.add_argument("--embed-server-socket", type=Path, help="pipeline.embed_server socket")
    parser.add_argument(
        "--accumulate", action="store_true", help="corpus.accumulate, as scheduled runs do"
    )
    parser.add_argument(
        "--keep-stages", type=Path, help="record the embed and align stages for stage_rounds.py"
    )
    args = parser.parse_args()
    if args.reference:
        use_reference_english(args.reference)
    logging.basicConfig(level=logging.WARNING)
    config = config_from_dict(
        {
            "paths": {"output_dir": str(args.output), "cache_dir": str(args.cache)},
            "translate": {
                "packages_dir": str(args.packages),
                "beam_size": args.beam_size,
                "max_decoding_length": args.max_decoding_length,
            },
            "embed": {"server_socket": args.embed_server_socket and str(args.embed_server_socket)},
            "corpus": {"accumulate": args.accumulate},
        }
    )
    with keeping_stages(args.keep_stages) if args.keep_stages else contextlib.nullcontext():
        start = time.perf_counter()
        result = run(args.input, config)
        wall = time.perf_counter() - start
    peak_kib = peak_rss_kib()
    summary = {"wall_s": wall, "peak_rss_mib": peak_kib / 1024, "run_dir": str(result.run_dir)}
    run_info = json.loads((result.run_dir / "run.json").read_text(encoding="utf-8"))
    if run_info["missing_models"]:
        # Sentences left without English (a package failed or is missing): every figure of such
        # a run would measure a smaller corpus than the one named.
        raise SystemExit(
            "sentences without English, so no benchmark figure: "
            + "; ".join(_why_untranslated(m, args.packages) for m in run_info["missing_models"])
        )
    summary.update(
        counts=run_info["counts"],
        seconds=run_info["seconds"],
        align_embed_seconds=run_info["align_embed_seconds"],
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
