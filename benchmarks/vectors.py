"""Synthetic sentence embeddings clustered like real ones: topics, statements, paraphrases.

News embeddings are not uniform noise: sentences about one event sit near one another, and
each statement recurs in several paraphrases. Three levels of a Gaussian mixture give that
shape: topic centres, statements around a topic (cosine ~0.5 to it), and paraphrases around a
statement (cosine ~0.8 to it), all normalised.
"""

from __future__ import annotations

import math

import numpy as np

PARAPHRASES_PER_STATEMENT = 6
STATEMENTS_PER_TOPIC = 50


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _around(centres: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors at about `cosine` to their centre (noise norm from 1/sqrt(1+s^2)=cosine)."""
    spread = math.sqrt(1 / cosine**2 - 1)
    noise = rng.standard_normal(centres.shape, dtype=np.float32)
    noise *= spread / math.sqrt(centres.shape[1])
    return _unit(centres + noise)


def clustered_vectors(rows: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    """`rows` normalised float32 vectors in clusters of paraphrases within topics."""
    rng = np.random.default_rng(seed)
    statements = math.ceil(rows / PARAPHRASES_PER_STATEMENT)
    topics = math.ceil(statements / STATEMENTS_PER_TOPIC)
    topic_centres = _unit(rng.standard_normal((topics, dim), dtype=np.float32))
    statement_centres = _around(topic_centres[rng.integers(topics, size=statements)], 0.5, rng)
    out = np.empty((rows, dim), dtype=np.float32)
    chunk = 100_000  # bounded temporary memory at 10^6 rows
    for start in range(0, rows, chunk):
        stop = min(rows, start + chunk)
        owners = rng.integers(statements, size=stop - start)
        out[start:stop] = _around(statement_centres[owners], 0.8, rng)
    return out
