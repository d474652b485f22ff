"""`executor: dask` against the local path: the cost of sending translate's and embed's chunks to
a Dask cluster on this machine.

Both sides translate the same unique Russian sentences (a Transformer-base synthetic package, as
benchmarks/translate.py builds) and embed the same English sentences (all-MiniLM-L6-v2), each
round with a cold cache, through the stage functions the run calls: `translate_sentences` and
`embed_texts`, with no hook (local) and with flows.cluster's DaskChunks on a LocalCluster of 2
single-threaded worker processes (dask). Each stage's texts are cut into 4 chunks on both
sides (the stages' own chunk sizes, 256 and 1,024 sentences, would give the quick sizes one
chunk each, and one worker nothing to do). The sides alternate over the rounds; the figure is the
median of dask/local per round, with the spread. This machine has 2 cores, as many as the
cluster's workers: the figure is the overhead (pickling, sending, results coming back, models
loaded per worker), not a speedup. The cluster's start and the workers' first model loads are
timed apart from the rounds: a LocalCluster is started once per flow run, an existing cluster's
workers keep their models.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import pipeline.embed
import pipeline.translate.argos
from benchmarks.common import Measurement, log, timed
from benchmarks.embed import english_articles
from benchmarks.translate import DECODING_CAP, install_base_models, russian_sentences
from flows.cluster import DaskChunks, kept_environment, task_runner
from pipeline.chunks import MapChunks
from pipeline.config import DaskConfig, EmbedConfig, TranslateConfig
from pipeline.embed import Embedder, embed_texts
from pipeline.records import Sentence
from pipeline.store import Store
from pipeline.translate import load_translators, translate_sentences
from pipeline.translate.memory import TranslationMemory
from pipeline.translate.packages import find_package

ROUNDS = 3
CHUNKS = 4  # per stage: two for each worker


def _stages(
    russian: list[str], english: list[str], config: TranslateConfig, map_chunks: MapChunks | None
) -> tuple[list[str], np.ndarray]:
    """Translate and embed with a cold cache, as a run does; the English and the vectors."""
    sentences = [Sentence("bench", "bench", i, text, lang="ru") for i, text in enumerate(russian)]
    with tempfile.TemporaryDirectory() as cache_dir:
        store = Store(Path(cache_dir))
        try:
            done, report = translate_sentences(
                sentences, TranslationMemory(), load_translators(config, {"ru"}), store,
                map_chunks=map_chunks,
            )  # fmt: skip
            vectors, encoded = embed_texts(
                english, Embedder(EmbedConfig()), store, map_chunks=map_chunks
            )
        finally:
            store.close()
    assert report.mt_new == len(russian) and encoded == len(set(english))
    return [s.english for s in done], vectors


def run(quick: bool, workdir: Path) -> list[Measurement]:
    packages_dir = workdir / "packages"
    if find_package(packages_dir, "ru", "en") is None:
        log.info("building Transformer-base synthetic packages (ru, uk)")
        install_base_models(packages_dir)
    russian = russian_sentences(64 if quick else 1024)
    english = list(dict.fromkeys(s.text for s in english_articles(30 if quick else 400)))
    config = TranslateConfig(packages_dir=packages_dir, max_decoding_length=DECODING_CAP)

    chunk_sizes = (
        (pipeline.translate.argos, -(-len(russian) // CHUNKS)),
        (pipeline.embed, -(-len(english) // CHUNKS)),
    )
    saved = [(module, module.CHUNK_SENTENCES) for module, _ in chunk_sizes]
    for module, size in chunk_sizes:
        module.CHUNK_SENTENCES = size
    try:
        return _measure(russian, english, config)
    finally:
        for module, size in saved:
            module.CHUNK_SENTENCES = size


def _measure(russian: list[str], english: list[str], config: TranslateConfig) -> list[Measurement]:
    started = time.perf_counter()
    with task_runner(DaskConfig(workers=2)) as runner:
        with kept_environment():  # so that the local rounds, and later benchmarks, keep theirs
            runner.client  # noqa: B018  (the runner starts its cluster on first use)
        on_cluster = DaskChunks(runner)
        cluster_start_s = time.perf_counter() - started
        log.info("executor: first dask round (workers load their models)")
        _, first_s = timed(_stages, russian, english, config, on_cluster)
        local_s, dask_s = [], []
        for number in range(ROUNDS):
            log.info("executor: round %d of %d, local then dask", number + 1, ROUNDS)
            (local_english, local_vectors), seconds = timed(_stages, russian, english, config, None)
            local_s.append(seconds)
            (dask_english, dask_vectors), seconds = timed(
                _stages, russian, english, config, on_cluster
            )
            dask_s.append(seconds)
    ratios = [d / loc for d, loc in zip(dask_s, local_s, strict=True)]
    differing = sum(a != b for a, b in zip(local_english, dask_english, strict=True))
    min_cosine = float(np.min(np.sum(local_vectors * dask_vectors, axis=1)))
    return [
        Measurement(
            "executor_overhead[dask]",
            statistics.median(dask_s),
            statistics.median(local_s),
            statistics.median(ratios),
            "",
            "s",
            f"translate {len(russian)} unique ru sentences (Transformer-base synthetic, "
            f"max_decoding_length {DECODING_CAP}) + embed {len(english)} unique English sentences, "
            f"cold cache, LocalCluster of 2 workers x 1 thread vs this process; dask/local per "
            f"round {', '.join(f'{r:.2f}' for r in ratios)} (median of {ROUNDS}, alternated); "
            f"{CHUNKS} chunks per stage (chunks sent in the {ROUNDS + 1} dask rounds: "
            f"{dict(on_cluster.sent)}); outside the rounds: cluster start {cluster_start_s:.1f} s, "
            f"first dask round {first_s:.1f} s "
            f"(workers load the models); translations differing {differing}, min cosine of "
            f"vectors {min_cosine:.6f}",
        )  # fmt: skip
    ]
