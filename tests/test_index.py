"""The FAISS index choice: exact below the threshold, approximate above it, recall kept."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from pipeline.index import build_index, choose_kind, search


def clustered(rows: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Normalised vectors in tight groups of ~6 paraphrases around topic-level centres."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((rows // 300 + 1, dim)).astype(np.float32)
    statements = topics[rng.integers(len(topics), size=rows // 6 + 1)]
    statements += rng.standard_normal(statements.shape).astype(np.float32)
    vectors = statements[rng.integers(len(statements), size=rows)]
    vectors += 0.5 * rng.standard_normal(vectors.shape).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def recall_at_10(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact, strict=True)]))


def test_flat_index_returns_the_exact_nearest_rows():
    vectors = clustered(500)
    scores, ids = search(build_index(vectors, "flat"), vectors[:20], 5)
    exact = vectors[:20] @ vectors.T
    np.testing.assert_array_equal(ids, np.argsort(-exact, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(scores, np.sort(exact, axis=1)[:, ::-1][:, :5], atol=1e-5)


def test_default_call_builds_an_exact_index_for_a_small_corpus():
    assert isinstance(build_index(clustered(100)), faiss.IndexFlatIP)


def test_auto_picks_flat_below_the_threshold_and_hnsw_from_it_on():
    vectors = clustered(2_000)
    assert isinstance(build_index(vectors, "auto", ann_min_vectors=2_001), faiss.IndexFlatIP)
    assert isinstance(build_index(vectors, "auto", ann_min_vectors=2_000), faiss.IndexHNSWFlat)
    assert choose_kind(10, "ivf", ann_min_vectors=10**9) == "ivf"


def test_unknown_index_kind_is_an_error_that_names_it():
    with pytest.raises(ValueError, match="annoy"):
        build_index(clustered(10), "annoy")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_keeps_recall_at_10_above_095(kind):
    vectors = clustered(20_000)
    queries = vectors[:1_000]
    _, exact = search(build_index(vectors, "flat"), queries, 10)
    _, found = search(build_index(vectors, kind), queries, 10)
    assert recall_at_10(found, exact) >= 0.95


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_gives_the_same_neighbours_on_every_build(kind):
    vectors = clustered(5_000)
    first = search(build_index(vectors, kind), vectors[:200], 10)
    second = search(build_index(vectors, kind), vectors[:200], 10)
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[0], second[0])


def test_hnsw_build_gives_faiss_its_threads_back():
    threads = faiss.omp_get_max_threads()
    build_index(clustered(500), "hnsw")
    assert faiss.omp_get_max_threads() == threads


def test_search_never_asks_for_more_neighbours_than_rows():
    vectors = clustered(3)
    scores, ids = search(build_index(vectors, "hnsw"), vectors, 10)
    assert ids.shape == (3, 3) and set(ids[0]) == {0, 1, 2}
