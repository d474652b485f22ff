"""The embed and align stages of one recorded run, timed again in a process of their own.

`align_vs_embed` sets two stages of one run against each other; a single run on a shared
machine is one noisy stretch. benchmarks/child.py --keep-stages records what the run gave the
two stages (pipeline.run.embed and pipeline.run.align_and_group); each round here runs both
stages again on those inputs, in a new process so that no cache of an earlier round (the
model, relation.py's memos) carries over:
- embed: a new Embedder (the model loaded in the timing, as in a run) and an empty cache;
- align: an empty cache too, which is what a first run's align stage finds of its own (no
  links, no joined sentences embedded); its Embedder is loaded beforehand, as in a run, where
  the embed stage loaded it.
Both in a run's order, embed then align: the embed stage imports sentence-transformers and
loads the model, as in a run (about half of the stage at 30 articles; with the order swapped,
align's untimed model load would take that from the embed stage). Prints one JSON line:
{"embed": s, "align": s, "align_embed": s (the model's part of align)}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pipeline.run as pipeline_run
from benchmarks.common import timed
from pipeline.embed import Embedder
from pipeline.store import Store

EMBED_CALLS = "embed-calls.pickle"  # [sentences per call of the embed stage]
ALIGN_CALL = "align-call.pickle"  # align_and_group's arguments, less embedder and store


@contextlib.contextmanager
def keeping_stages(folder: Path) -> Iterator[None]:
    """Within the block, runs keep what their embed and align stages were given; written to
    `folder` when the block ends. Only references are taken inside the stages, so that their
    timings are the run's own (the run's peak memory may grow by the align stage's inputs,
    held through export)."""
    embed, align_and_group = pipeline_run.embed, pipeline_run.align_and_group
    embed_calls: list[list] = []
    align_calls: list[tuple] = []

    def recorded_embed(sentences, *args, **kwargs):
        embed_calls.append(sentences)
        return embed(sentences, *args, **kwargs)

    def recorded_align(embedded, untranslated, stories, published, embedder, store, *rest):
        align_calls.append((embedded, untranslated, stories, published, *rest))
        return align_and_group(embedded, untranslated, stories, published, embedder, store, *rest)

    pipeline_run.embed, pipeline_run.align_and_group = recorded_embed, recorded_align
    try:
        yield
    finally:
        pipeline_run.embed, pipeline_run.align_and_group = embed, align_and_group
    if len(align_calls) != 1:
        raise RuntimeError(f"the run called the align stage {len(align_calls)} times, not once")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / EMBED_CALLS).write_bytes(pickle.dumps(embed_calls))
    (folder / ALIGN_CALL).write_bytes(pickle.dumps(align_calls[0]))


def one_round(folder: Path) -> dict[str, float]:
    """Seconds of the embed and the align stage on the inputs kept in `folder`."""
    embed_calls = pickle.loads((folder / EMBED_CALLS).read_bytes())
    embedded, untranslated, stories, published, config, *rest = pickle.loads(
        (folder / ALIGN_CALL).read_bytes()
    )
    with tempfile.TemporaryDirectory() as work, contextlib.ExitStack() as stack:
        # Caches and embedders are made before the timings, as a run makes them before its
        # stages; the embed stage's model loads in its first call, as in a run.
        embed_cache, align_cache = Path(work, "embed-cache"), Path(work, "align-cache")
        embed_store = stack.enter_context(contextlib.closing(Store(embed_cache)))
        align_store = stack.enter_context(contextlib.closing(Store(align_cache)))
        embedder = Embedder(config.embed, embed_cache)
        align_embedder = Embedder(config.embed, align_cache)

        def embed_stage() -> None:
            for sentences in embed_calls:
                pipeline_run.embed(sentences, embedder, embed_store, None)

        _, embed_s = timed(embed_stage)
        align_embedder.encode(["loaded before the stage, as in a run"])
        aligned, align_s = timed(
            pipeline_run.align_and_group, embedded, untranslated, stories, published,
            align_embedder, align_store, config, *rest,
        )  # fmt: skip
    return {"embed": embed_s, "align": align_s, "align_embed": aligned.embed_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="what child.py --keep-stages recorded")
    args = parser.parse_args()
    print(json.dumps(one_round(args.folder)))


if __name__ == "__main__":
    main()
