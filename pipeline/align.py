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

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pipeline.config import AlignConfig
from pipeline.index import build_index, search
from pipeline.records import Alignment, Sentence, text_hash
from pipeline.spans import divergent_spans


def candidate_article_pairs(
    vectors: np.ndarray, article_of: np.ndarray, config: AlignConfig
) -> list[tuple[int, int]]:
    """Article pairs (a < b) in which some sentence has a near neighbour in the other article."""
    neighbours, min_cosine = config.candidates, config.min_cosine
    largest_article = int(np.bincount(article_of).max())
    index = build_index(vectors, config.index, config.ann_min_vectors)
    # Ask for enough neighbours that `neighbours` of them survive dropping same-article rows.
    scores, ids = search(index, vectors, neighbours + largest_article)
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


# A monotonic link below this margin is no closer than an average neighbour: order alone
# would have made it.
MONOTONIC_MIN_MARGIN = 1.0

Encode = Callable[[list[str]], np.ndarray]  # texts -> normalised vectors (cached by the caller)


@dataclass(frozen=True)
class ArticlePair:
    """The sentences of two articles and their cosine and ratio-margin matrices."""

    a: list[Sentence]
    b: list[Sentence]
    vectors_a: np.ndarray
    vectors_b: np.ndarray
    cosines: np.ndarray
    margins: np.ndarray

    def link(self, i: int, j: int, method: str) -> Alignment:
        only_a, only_b = divergent_spans(self.a[i].english, self.b[j].english)
        return Alignment(
            self.a[i],
            self.b[j],
            float(self.cosines[i, j]),
            float(self.margins[i, j]),
            method,
            tuple(only_a),
            tuple(only_b),
        )


def order_agreement(links: list[tuple[int, int]]) -> float:
    """Share of links in the longest run that keeps both articles' order (1.0: fully monotonic)."""
    if not links:
        return 0.0
    columns = [j for _, j in sorted(links)]
    tails: list[int] = []  # patience sorting: longest increasing subsequence
    for j in columns:
        k = bisect.bisect_left(tails, j)
        tails[k : k + 1] = [j]
    return len(tails) / len(links)


def is_near_translation(
    pair: ArticlePair, links: list[tuple[int, int]], config: AlignConfig
) -> bool:
    """Most sentences of both articles have a close counterpart, in the same order."""
    close = pair.cosines >= config.near_translation_cosine
    paired_share = min(close.any(axis=1).mean(), close.any(axis=0).mean())
    ordered = [(i, j) for i, j in links if close[i, j]]
    return (
        paired_share >= config.near_translation_coverage
        and order_agreement(ordered) >= config.near_translation_order
    )


def _joined(sentences: list[Sentence], rows: tuple[int, ...]) -> str:
    return " ".join(sentences[r].english for r in sorted(rows))


def monotonic_links(pair: ArticlePair, encode: Encode, config: AlignConfig) -> list[Alignment]:
    """Document alignment for near-translations: 1-1, 1-2 and 2-1 beads in order (Bertalign-style).

    Dynamic programming over both articles in order; a bead scores its cosine minus
    `min_cosine`, a skipped sentence scores 0, so only beads above the floor are worth taking.
    A 2-sentence side is scored by the embedding of the two sentences joined.
    """
    n, m = len(pair.a), len(pair.b)
    floor = config.min_cosine
    merged_a = encode([_joined(pair.a, (i, i + 1)) for i in range(n - 1)]) if n > 1 else None
    merged_b = encode([_joined(pair.b, (j, j + 1)) for j in range(m - 1)]) if m > 1 else None
    vectors_a, vectors_b = pair.vectors_a, pair.vectors_b

    def bead_score(i: int, j: int, di: int, dj: int) -> float:
        if (di, dj) == (1, 1):
            return float(pair.cosines[i, j]) - floor
        if (di, dj) == (1, 2):
            return float(vectors_a[i] @ merged_b[j]) - floor
        return float(merged_a[i] @ vectors_b[j]) - floor  # (2, 1)

    moves = ((1, 0), (0, 1), (1, 1), (1, 2), (2, 1))
    best = np.full((n + 1, m + 1), -np.inf)
    best[0, 0] = 0.0
    back: dict[tuple[int, int], tuple[int, int]] = {}
    for i in range(n + 1):
        for j in range(m + 1):
            for di, dj in moves:
                pi, pj = i - di, j - dj
                if pi < 0 or pj < 0 or best[pi, pj] == -np.inf:
                    continue
                gain = 0.0 if 0 in (di, dj) else bead_score(pi, pj, di, dj)
                if best[pi, pj] + gain > best[i, j]:
                    best[i, j] = best[pi, pj] + gain
                    back[(i, j)] = (di, dj)
    links = []
    i, j = n, m
    while (i, j) != (0, 0):
        di, dj = back[(i, j)]
        i, j = i - di, j - dj
        if 0 not in (di, dj):
            links += [
                pair.link(a, b, "monotonic")
                for a in range(i, i + di)
                for b in range(j, j + dj)
                # Each sentence pair of a bead must hold on its own, too: close enough, and
                # closer than its neighbours are on average (margin above 1).
                if pair.cosines[a, b] >= floor and pair.margins[a, b] >= MONOTONIC_MIN_MARGIN
            ]
    return links


def merge_candidates(
    pair: ArticlePair, links: list[tuple[int, int]], config: AlignConfig
) -> list[tuple[int, int, int, bool]]:
    """Possible one-to-many links, as (a, b1, b2, flipped): `a` may merge b1 (its link) and b2.

    b2 is a sentence left without a link whose best match is `a`, close enough on its own.
    `flipped` means the roles of the two articles are swapped.
    """
    candidates = []
    for flipped in (False, True):
        margins = pair.margins.T if flipped else pair.margins
        cosines = pair.cosines.T if flipped else pair.cosines
        partner = {(j if flipped else i): (i if flipped else j) for i, j in links}
        linked_other = set(partner.values())
        best_for_other = margins.argmax(axis=0)
        for b2 in range(margins.shape[1]):
            a = int(best_for_other[b2])
            if b2 in linked_other or a not in partner:
                continue
            if margins[a, b2] >= config.margin_threshold and cosines[a, b2] >= config.min_cosine:
                candidates.append((a, partner[a], b2, flipped))
    return candidates


def _merge_text(pair: ArticlePair, candidate: tuple[int, int, int, bool]) -> str:
    _, b1, b2, flipped = candidate
    return _joined(pair.a if flipped else pair.b, (b1, b2))


def merged_links(
    pair: ArticlePair,
    candidates: list[tuple[int, int, int, bool]],
    encode: Encode,
    config: AlignConfig,
) -> list[Alignment]:
    """The candidates whose `a` is closer to b1 and b2 joined than to either alone, by at least
    `merge_min_gain`: "X," he stressed, and promised "Y" links to both X and Y."""
    if not candidates:
        return []
    joined = encode([_merge_text(pair, candidate) for candidate in candidates])
    found = []
    for (a, b1, b2, flipped), merged in zip(candidates, joined, strict=True):
        cosines = pair.cosines.T if flipped else pair.cosines
        alone = pair.vectors_b[a] if flipped else pair.vectors_a[a]
        if float(alone @ merged) >= max(cosines[a, b1], cosines[a, b2]) + config.merge_min_gain:
            found.append(pair.link(b2, a, "merge") if flipped else pair.link(a, b2, "merge"))
    return found


class LinkCache(Protocol):
    """Links already found for an article pair, keyed by both articles' English sentences."""

    def get_links(self, options_key: str, pair_hashes: Iterable[str]) -> dict[str, list]: ...

    def put_links(self, options_key: str, items: Iterable[tuple[str, list]]) -> None: ...


# Bumped whenever what the link cache stores changes shape.
LINK_CACHE_FORMAT = "links-2"


def pair_hash(a: list[Sentence], b: list[Sentence]) -> str:
    return text_hash("\x1e".join("\x1f".join(s.english for s in side) for side in (a, b)))


@dataclass(frozen=True)
class PairPlan:
    """What aligning one article pair takes, before any joined sentences are embedded."""

    links: list[tuple[int, int]]  # mutual best above both thresholds
    near_translation: bool
    merges: list[tuple[int, int, int, bool]]  # candidates for one-to-many links

    def texts_to_embed(self, pair: ArticlePair) -> list[str]:
        if self.near_translation:
            return [
                _joined(side, (i, i + 1)) for side in (pair.a, pair.b) for i in range(len(side) - 1)
            ]
        return [_merge_text(pair, candidate) for candidate in self.merges]


def plan_pair(pair: ArticlePair, config: AlignConfig, with_joined: bool) -> PairPlan:
    links = [
        (i, j)
        for i, j in mutual_best(pair.margins)
        if pair.margins[i, j] >= config.margin_threshold and pair.cosines[i, j] >= config.min_cosine
    ]
    if not with_joined:
        return PairPlan(links, False, [])
    if is_near_translation(pair, links, config):
        return PairPlan(links, True, [])
    return PairPlan(links, False, merge_candidates(pair, links, config))


def align_pair(
    pair: ArticlePair, plan: PairPlan, config: AlignConfig, encode: Encode | None
) -> list[Alignment]:
    """The links between two articles: mutual best, then merges or, for a translation, in order."""
    if plan.near_translation and encode is not None:
        in_order = monotonic_links(pair, encode, config)
        # A translation may still move a sentence: keep mutual links the order left out.
        taken_a = {x.a.position for x in in_order}
        taken_b = {x.b.position for x in in_order}
        return in_order + [
            pair.link(i, j, "mutual")
            for i, j in plan.links
            if pair.a[i].position not in taken_a and pair.b[j].position not in taken_b
        ]
    found = [pair.link(i, j, "mutual") for i, j in plan.links]
    if encode is not None:
        found += merged_links(pair, plan.merges, encode, config)
    return found


def align(
    sentences: list[Sentence],
    vectors: np.ndarray,
    config: AlignConfig,
    encode: Encode | None = None,
    cache: LinkCache | None = None,
    cache_key: str = "",
) -> list[Alignment]:
    """Statement pairs across articles, sorted by (article_a, position_a, article_b, position_b).

    Without `encode` (which embeds joined sentences) only one-to-one links are made. With a
    `cache`, an article pair whose sentences and options (`cache_key`) were aligned before is
    not aligned again: a rerun, or a run with one new article, redoes only the new pairs.
    """
    if len(sentences) < 2:
        return []
    article_names = sorted({s.article_id for s in sentences})
    article_number = {name: i for i, name in enumerate(article_names)}
    article_of = np.array([article_number[s.article_id] for s in sentences])
    rows_of: dict[int, list[int]] = defaultdict(list)
    for row, article in enumerate(article_of):
        rows_of[int(article)].append(row)

    candidates = candidate_article_pairs(vectors, article_of, config)
    sides = {
        (a, b): ([sentences[r] for r in rows_of[a]], [sentences[r] for r in rows_of[b]])
        for a, b in candidates
    }
    hashes = {key: pair_hash(*side) for key, side in sides.items()}
    known = cache.get_links(cache_key, hashes.values()) if cache else {}
    alignments, todo = [], []
    for key in candidates:
        side_a, side_b = sides[key]
        if hashes[key] in known:
            alignments += [
                Alignment(
                    side_a[i], side_b[j], cosine, margin, method, tuple(only_a), tuple(only_b)
                )
                for i, j, cosine, margin, method, only_a, only_b in known[hashes[key]]
            ]
            continue
        rows_a, rows_b = rows_of[key[0]], rows_of[key[1]]
        cosines = vectors[rows_a] @ vectors[rows_b].T
        pair = ArticlePair(
            side_a,
            side_b,
            vectors[rows_a],
            vectors[rows_b],
            cosines,
            ratio_margin(cosines, config.k),
        )
        todo.append((key, pair, plan_pair(pair, config, with_joined=encode is not None)))

    from_batch: Encode | None = None
    if encode is not None:
        # Every joined sentence pair the new article pairs need, embedded in one batch: one
        # model call instead of one per article pair.
        needed = sorted({text for _, pair, plan in todo for text in plan.texts_to_embed(pair)})
        memo = dict(zip(needed, encode(needed), strict=True)) if needed else {}

        def from_batch(texts: list[str]) -> np.ndarray:
            return np.stack([memo[text] for text in texts])

    new = []
    for key, pair, plan in todo:
        found = align_pair(pair, plan, config, from_batch)
        alignments += found
        row_a = {s.position: i for i, s in enumerate(pair.a)}
        row_b = {s.position: j for j, s in enumerate(pair.b)}
        new.append(
            (
                hashes[key],
                [
                    [
                        row_a[x.a.position],
                        row_b[x.b.position],
                        x.cosine,
                        x.margin,
                        x.method,
                        x.only_in_a,
                        x.only_in_b,
                    ]  # fmt: skip
                    for x in found
                ],
            )
        )
    if cache and new:
        cache.put_links(cache_key, new)
    return sorted(
        alignments, key=lambda x: (x.a.article_id, x.a.position, x.b.article_id, x.b.position)
    )
