"""Nearest-neighbour search over normalised sentence vectors (FAISS inner product = cosine)."""

from __future__ import annotations

import faiss
import numpy as np


def build_index(vectors: np.ndarray) -> faiss.Index:
    """An exact inner-product index over `vectors` (rows normalised)."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores and row ids of the k nearest rows for each query, best first (-1 pads)."""
    k = min(k, index.ntotal)
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
