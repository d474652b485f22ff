"""Align stage: find the same statement in different articles, in any order.

News articles about one event are not parallel texts: outlets reorder, cut and paraphrase.
So the search is order-free:
1. FAISS finds each sentence's nearest neighbours in other articles; article pairs that share
   a close neighbour are the only ones compared further.
2. For each such pair of articles, every sentence pair gets a ratio margin (Artetxe & Schwenk
   2019): its cosine divided by the mean cosine of each side's k nearest neighbours in the
   other article. A sentence that is merely close to everything scores low.
3. A pair is kept when it is the mutual best of its two sentences between those two articles
   and clears both the margin threshold and a cosine floor.
The margin is computed within each article pair, not over the whole corpus: a statement that
five outlets carry would otherwise have five near-equal neighbours and a margin near 1.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from pipeline.config import AlignConfig
from pipeline.index import build_index, search
from pipeline.records import Alignment, Sentence


def candidate_article_pairs(
    vectors: np.ndarray, article_of: np.ndarray, neighbours: int, min_cosine: float
) -> list[tuple[int, int]]:
    """Article pairs (a < b) in which some sentence has a near neighbour in the other article."""
    largest_article = int(np.bincount(article_of).max())
    # Ask for enough neighbours that `neighbours` of them survive dropping same-article rows.
    scores, ids = search(build_index(vectors), vectors, neighbours + largest_article)
    pairs = set()
    for row, (row_scores, row_ids) in enumerate(zip(scores, ids, strict=True)):
        own = article_of[row]
        others = [
            (score, article_of[j])
            for score, j in zip(row_scores, row_ids, strict=True)
            if j >= 0 and article_of[j] != own
        ][:neighbours]
        for score, other in others:
            if score >= min_cosine:
                pairs.add((min(own, other), max(own, other)))
    return sorted(pairs)


def ratio_margin(cosines: np.ndarray, k: int) -> np.ndarray:
    """Ratio margin for each cell of an |A|x|B| cosine block, neighbourhoods within the block."""
    k_rows = min(k, cosines.shape[1])
    k_cols = min(k, cosines.shape[0])
    row_mean = -np.sort(-cosines, axis=1)[:, :k_rows].mean(axis=1)
    col_mean = -np.sort(-cosines, axis=0)[:k_cols, :].mean(axis=0)
    denominator = (row_mean[:, None] + col_mean[None, :]) / 2
    return cosines / np.maximum(denominator, 1e-6)


def mutual_best(scores: np.ndarray) -> list[tuple[int, int]]:
    """Cells that are the maximum of both their row and their column."""
    best_in_row = scores.argmax(axis=1)
    best_in_col = scores.argmax(axis=0)
    return [(i, int(j)) for i, j in enumerate(best_in_row) if best_in_col[j] == i]


def align(sentences: list[Sentence], vectors: np.ndarray, config: AlignConfig) -> list[Alignment]:
    """Statement pairs across articles, sorted by (article_a, position_a, article_b, position_b)."""
    if len(sentences) < 2:
        return []
    article_names = sorted({s.article_id for s in sentences})
    article_number = {name: i for i, name in enumerate(article_names)}
    article_of = np.array([article_number[s.article_id] for s in sentences])
    rows_of: dict[int, list[int]] = defaultdict(list)
    for row, article in enumerate(article_of):
        rows_of[int(article)].append(row)

    alignments = []
    pairs = candidate_article_pairs(vectors, article_of, config.candidates, config.min_cosine)
    for article_a, article_b in pairs:
        rows_a, rows_b = rows_of[article_a], rows_of[article_b]
        cosines = vectors[rows_a] @ vectors[rows_b].T
        margins = ratio_margin(cosines, config.k)
        for i, j in mutual_best(margins):
            if margins[i, j] >= config.margin_threshold and cosines[i, j] >= config.min_cosine:
                alignments.append(
                    Alignment(
                        a=sentences[rows_a[i]],
                        b=sentences[rows_b[j]],
                        cosine=float(cosines[i, j]),
                        margin=float(margins[i, j]),
                    )
                )
    return sorted(
        alignments, key=lambda x: (x.a.article_id, x.a.position, x.b.article_id, x.b.position)
    )
