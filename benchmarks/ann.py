"""Approximate FAISS search against exact IndexFlatIP on clustered synthetic embeddings.

At each size the same index types the pipeline builds (pipeline.index.build_index) answer the
same queries; recall@10 is the share of the exact top 10 they return. `ann_recall_at_10` is
HNSW, the approximate index `auto` builds; `ann_recall_at_10[ivf]` is the alternative. A second
figure times the search the align stage actually runs, every vector against all the others,
at sizes around the auto threshold (align.ann_min_vectors) between flat and HNSW.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import Measurement, alternate, log, timed
from benchmarks.vectors import clustered_vectors
from pipeline.index import build_index, ivf_lists, ivf_probes, search

QUERIES = 2_000


def recall_at_10(found: np.ndarray, exact: np.ndarray) -> float:
    hits = [len(set(f) & set(e)) for f, e in zip(found, exact, strict=True)]
    return float(np.mean(hits)) / 10


def _at_size(rows: int, kinds: tuple[str, ...], note: str) -> list[Measurement]:
    log.info("ann: %d clustered vectors", rows)
    vectors = clustered_vectors(rows, seed=rows)
    queries = vectors[np.random.default_rng(1).choice(rows, QUERIES, replace=False)]
    flat = build_index(vectors, "flat")
    (_, exact), flat_s = timed(search, flat, queries, 10)
    del flat
    results = []
    for kind in kinds:
        log.info("ann: %s at %d", kind, rows)
        index, build_s = timed(build_index, vectors, kind)
        (_, found), search_s = timed(search, index, queries, 10)
        recall = recall_at_10(found, exact)
        settings = (
            f"nlist {ivf_lists(rows)}, nprobe {ivf_probes(ivf_lists(rows))}"
            if kind == "ivf"
            else f"M {index.hnsw.nb_neighbors(1)}, efConstruction {index.hnsw.efConstruction}, "
            f"efSearch {index.hnsw.efSearch}, built by one thread"
        )
        results.append(
            Measurement(
                "ann_recall_at_10" if kind == "hnsw" else f"ann_recall_at_10[{kind}]",
                recall, 1.0, recall, ">= 0.95", "recall@10",
                f"{rows:,} vectors, 384-d, clustered; {kind} ({settings}); {QUERIES} queries: "
                f"search {search_s:.3f} s vs flat {flat_s:.3f} s = {flat_s / search_s:.1f}x "
                f"speedup; build {build_s:.1f} s{note}",
            )
        )  # fmt: skip
        del index
    return results


def _all_pairs(rows: int) -> Measurement:
    """The align stage's search: every vector against the index, HNSW vs flat (build included),
    in turns."""
    vectors = clustered_vectors(rows, seed=rows + 1)
    _, _, turns = alternate(
        lambda: search(build_index(vectors, "hnsw"), vectors, 20),
        lambda: search(build_index(vectors, "flat"), vectors, 20),
    )
    return Measurement(
        f"ann_all_pairs_speedup[{rows}]", turns.value, turns.baseline, turns.speedup, "", "s",
        f"build + search of all {rows:,} vectors for 20 neighbours: flat {turns.baseline:.2f} s, "
        f"HNSW {turns.value:.2f} s, {turns.describe()}",
    )  # fmt: skip


def run(quick: bool) -> list[Measurement]:
    # --quick: 5*10^4 vectors and one all-pairs size (its 10 minutes; a 10^5 HNSW build alone
    # takes ~50 s on 2 cores).
    results = _at_size(50_000 if quick else 100_000, ("hnsw", "ivf"), "")
    if not quick:
        results += _at_size(1_000_000, ("hnsw", "ivf"), "")
    for rows in (10_000,) if quick else (20_000, 50_000, 100_000):
        log.info("ann: all-pairs search at %d", rows)
        results.append(_all_pairs(rows))
    return results
