"""Nearest-neighbour search over normalised sentence vectors (FAISS inner product = cosine).

Below `ann_min_vectors` rows the index is exact (IndexFlatIP). From there on an approximate
index pays for itself: an HNSW graph, the default, or an inverted file (IVF). On clustered
sentence embeddings (benchmarks/ann.py) HNSW keeps recall@10 at or above 0.95 up to 10^6 rows
and more; IVF builds far faster but its recall falls with size (0.97 at 3*10^5 rows, 0.94 at
4*10^5, 0.84 at 10^6, with a sixteenth of its lists searched).
"""

from __future__ import annotations

import math
from typing import Literal

import faiss
import numpy as np

IndexKind = Literal["auto", "flat", "hnsw", "ivf"]

# k-means needs this many training rows per list to place its centroids well; more only costs.
_TRAIN_ROWS_PER_LIST = 64
_KMEANS_ITERATIONS = 10
_SEED = 1234

# HNSW: 32 links per node; build and search beams wide enough for recall@10 >= 0.95 at 10^6
# rows (a build beam of 40 halves the build time but loses 1.6 points of recall at 10^5).
_HNSW_LINKS = 32
_HNSW_BUILD_BEAM = 80
_HNSW_SEARCH_BEAM = 192


def choose_kind(rows: int, kind: IndexKind = "auto", ann_min_vectors: int = 200_000) -> str:
    """The index type for `rows` vectors: `kind` itself, or for auto flat below the threshold
    and HNSW from there on."""
    if kind != "auto":
        return kind
    return "hnsw" if rows >= ann_min_vectors else "flat"


def ivf_lists(rows: int) -> int:
    """Inverted lists for `rows` vectors: about 2*sqrt(rows), with enough rows to train each."""
    return max(1, min(int(2 * math.sqrt(rows)), rows // 39))


def ivf_probes(lists: int) -> int:
    """Lists visited per query: a fixed share of them, never fewer than 16."""
    return min(lists, max(16, lists // 16))


def build_index(
    vectors: np.ndarray, kind: IndexKind = "auto", ann_min_vectors: int = 200_000
) -> faiss.Index:
    """An inner-product index over `vectors` (rows normalised): exact, or approximate when large.

    `kind` "auto" is exact below `ann_min_vectors` rows and HNSW from there on; "flat", "hnsw"
    and "ivf" force one type.
    """
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    rows, dim = data.shape
    chosen = choose_kind(rows, kind, ann_min_vectors)
    if chosen == "flat":
        index = faiss.IndexFlatIP(dim)
    elif chosen == "ivf":
        index = _ivf(data)
    elif chosen == "hnsw":
        return _hnsw(data)
    else:
        raise ValueError(f"unknown index kind {kind!r} (auto, flat, hnsw or ivf)")
    index.add(data)
    return index


def _hnsw(data: np.ndarray) -> faiss.IndexHNSWFlat:
    index = faiss.IndexHNSWFlat(data.shape[1], _HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = _HNSW_BUILD_BEAM
    index.hnsw.efSearch = _HNSW_SEARCH_BEAM
    # Threads inserting at once link each new node to what its neighbours hold at that moment,
    # so a parallel build is not bound to give the same graph twice, and other neighbours
    # would mean other article pairs on a rerun. One thread inserts in row order: the same
    # vectors, the same graph. On two cores this cost nothing measurable (10^6 rows: 496-513 s
    # on one thread, 505 s on two).
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.add(data)
    finally:
        faiss.omp_set_num_threads(threads)
    return index


def _ivf(data: np.ndarray) -> faiss.IndexIVFFlat:
    rows, dim = data.shape
    lists = ivf_lists(rows)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = _KMEANS_ITERATIONS
    index.cp.seed = _SEED
    index.cp.max_points_per_centroid = _TRAIN_ROWS_PER_LIST
    index.train(_training_sample(data, lists * _TRAIN_ROWS_PER_LIST))
    index.nprobe = ivf_probes(lists)
    return index


def _training_sample(data: np.ndarray, size: int) -> np.ndarray:
    """A fixed random subset of rows, so the same vectors always train the same centroids."""
    if len(data) <= size:
        return data
    rows = np.random.default_rng(_SEED).choice(len(data), size, replace=False)
    return data[np.sort(rows)]


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores and row ids of the k nearest rows for each query, best first (-1 pads)."""
    k = min(k, index.ntotal)
    if isinstance(index, faiss.IndexHNSWFlat):
        # The search beam must hold at least k candidates to return k of them.
        index.hnsw.efSearch = max(index.hnsw.efSearch, k)
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
