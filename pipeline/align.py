"""Align stage: find the same statement in different articles, in any order.

News articles about one event are not parallel texts: outlets reorder, cut and paraphrase.
So the search is order-free:
1. FAISS finds each sentence's nearest neighbours in other articles; article pairs that share
   a close neighbour are the only ones compared further.
2. For each such pair of articles, every sentence pair gets a ratio margin (Artetxe & Schwenk
   2019): its cosine divided by the mean cosine of each side's k nearest neighbours in the
   other article. A sentence that is merely close to everything scores low. An article with
   fewer than k sentences cannot supply k neighbours: the rest come from a fixed background of
   generic news sentences (pipeline/data/background_sentences.txt), so the neighbourhood is
   always k strong. With neighbours from the article alone, a one-sentence brief was its own
   only neighbour, and its margin was always 1.0.
3. A pair is kept when it is the mutual best of its two sentences between those two articles
   and clears both the margin threshold and a cosine floor (lower when both sides give one same
   figure), unless its sides name different people or places (pipeline/relation.py).
The margin is computed within each article pair, not over the whole corpus: a statement that
five outlets carry would otherwise have five near-equal neighbours and a margin near 1.
"""

from __future__ import annotations

import bisect
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Protocol

import numpy as np

from pipeline.config import AlignConfig
from pipeline.index import build_index, search
from pipeline.records import SPAN_SEPARATOR, Alignment, Sentence, text_hash
from pipeline.relation import DIFFERENT, relation, share_a_figure
from pipeline.spans import divergent_spans


@dataclass(frozen=True)
class DistinctVectors:
    """Each distinct vector once, and which of them every row is.

    Identical sentences (boilerplate, a quote carried word for word) have identical vectors.
    Scoring each distinct vector once makes their scores identical too: BLAS rounding depends on
    where a row sits in memory, and a tie broken by rounding would make two runs over the same
    corpus choose different partners. For the same reason the distinct vectors are in an order
    of their own (by their bytes), not in the order the sentences came: on an AMD EPYC's
    OpenBLAS kernels, the same corpus given in another order scored cosines one float32 step
    apart.
    """

    vectors: np.ndarray  # one row per distinct vector, ordered by the vector's bytes
    of_row: np.ndarray  # row -> its distinct vector

    @classmethod
    def of(cls, vectors: np.ndarray) -> DistinctVectors:
        keys = [vector.tobytes() for vector in vectors]
        first_row: dict[bytes, int] = {}
        for row, key in enumerate(keys):
            first_row.setdefault(key, row)
        ordered = sorted(first_row)
        number_of = {key: number for number, key in enumerate(ordered)}
        of_row = np.fromiter((number_of[key] for key in keys), dtype=np.int64, count=len(keys))
        return cls(vectors[[first_row[key] for key in ordered]], of_row)

    def cosines(self, rows_a: list[int], rows_b: np.ndarray) -> np.ndarray:
        """The |rows_a| x |rows_b| cosine block, computed once per pair of distinct vectors."""
        ids_a, back_a = np.unique(self.of_row[rows_a], return_inverse=True)
        ids_b, back_b = np.unique(self.of_row[rows_b], return_inverse=True)
        block = self.vectors[ids_a] @ self.vectors[ids_b].T
        return block[back_a][:, back_b]


def candidate_article_pairs(
    distinct: DistinctVectors, article_of: np.ndarray, config: AlignConfig
) -> list[tuple[int, int]]:
    """Article pairs (a < b) in which some sentence has a near neighbour in the other article.

    Each sentence looks at its `candidates` nearest sentences in other articles. Sentences with
    the same vector tie; the tie goes to the earlier article (by name), so the choice depends on
    the corpus alone.
    """
    neighbours = config.candidates
    occurrences = sorted(set(zip(article_of.tolist(), distinct.of_row.tolist(), strict=True)))
    articles_of: list[list[int]] = [[] for _ in range(len(distinct.vectors))]
    for article, vector in occurrences:  # sorted: each list is in article order
        articles_of[vector].append(article)
    # Enough neighbours that `neighbours` of them survive dropping those only in one's own article.
    largest_article = int(np.bincount(article_of).max())
    index = build_index(distinct.vectors, config.index, config.ann_min_vectors)
    scores, ids = search(index, distinct.vectors, neighbours + largest_article)
    # The loop below reads neighbours one by one: as Python numbers (numpy scalars cost ~3x),
    # with the floor rounded to float32 as a comparison with a float32 score rounds it.
    score_rows, id_rows, floor = scores.tolist(), ids.tolist(), float(np.float32(config.min_cosine))
    pairs = set()
    for own, vector in occurrences:
        taken = 0
        for score, other_vector in zip(score_rows[vector], id_rows[vector], strict=True):
            if other_vector < 0 or score < floor or taken == neighbours:
                break
            for other in articles_of[other_vector]:
                if other != own and taken < neighbours:
                    pairs.add((min(own, other), max(own, other)))
                    taken += 1
    return sorted(pairs)


def background_neighbours(vectors: np.ndarray, background: np.ndarray, k: int) -> np.ndarray:
    """Each row's k highest cosines to the background vectors, highest first: |rows| x k."""
    k = min(k, len(background))
    cosines = vectors @ background.T
    # Only the k highest are sorted: a partition first (sorting all 240 columns took 2x longer).
    highest = -np.partition(-cosines, k - 1, axis=1)[:, :k] if k < cosines.shape[1] else cosines
    return -np.sort(-highest, axis=1)


def ratio_margin(
    cosines: np.ndarray,
    k: int,
    background_a: np.ndarray | None = None,
    background_b: np.ndarray | None = None,
) -> np.ndarray:
    """Ratio margin for each cell of an |A|x|B| cosine block (Artetxe & Schwenk 2019, ratio).

    A row's neighbourhood is its k highest cosines in the block; where the block has fewer than
    k columns, it is topped up to k from the row's highest cosines to the background
    (`background_a`, |A| x k, from background_neighbours()). Columns likewise (`background_b`).
    The align stage scores all of an article's new pairs at once the same way (_story_pairs).
    """
    rows, columns = cosines.shape
    row_means = neighbourhood_means(cosines, Columns.of([range(columns)]), k, background_a)
    column_means = neighbourhood_means(cosines.T, Columns.of([range(rows)]), k, background_b)
    return margins_of(cosines, row_means, column_means.T)


def margins_of(cosines: np.ndarray, row_means: np.ndarray, column_means: np.ndarray) -> np.ndarray:
    """Each cosine over the mean of its row's and its column's neighbourhood means (both
    broadcast to the cosines' shape)."""
    return cosines / np.maximum((row_means + column_means) / 2, 1e-6)


def mutual_best(scores: np.ndarray) -> list[tuple[int, int]]:
    """Cells that are the maximum of both their row and their column."""
    return mutual_of(scores.argmax(axis=1), scores.argmax(axis=0))


def mutual_of(best_in_row: np.ndarray, best_in_col: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) for each row whose best column has that row as its best: mutual_best from
    each row's and each column's best (argmax) already found."""
    best_in_col = best_in_col.tolist()
    return [(i, j) for i, j in enumerate(best_in_row.tolist()) if best_in_col[j] == i]


# A monotonic link below this margin is no closer than an average neighbour: order alone
# would have made it.
MONOTONIC_MIN_MARGIN = 1.0

Encode = Callable[[list[str]], np.ndarray]  # texts -> normalised vectors (cached by the caller)


@dataclass(frozen=True)
class ArticlePair:
    """The sentences of two articles, their |a| x |b| cosine and ratio-margin matrices, and
    each sentence's best match by margin in the other article (the first on ties, as argmax)."""

    a: list[Sentence]
    b: list[Sentence]
    vectors_a: np.ndarray
    vectors_b: np.ndarray
    cosines: np.ndarray
    margins: np.ndarray
    best_b: np.ndarray  # per row: margins.argmax(axis=1)
    best_a: np.ndarray  # per column: margins.argmax(axis=0)

    def mutual_best(self) -> list[tuple[int, int]]:
        """mutual_best(self.margins), from the best matches already found."""
        return mutual_of(self.best_b, self.best_a)

    def relation(self, i: int, j: int) -> str:
        return relation(self.a[i].english, self.b[j].english)

    def close_enough(self, i: int, j: int, config: AlignConfig) -> bool:
        """Whether the pair's cosine is at least `min_cosine`, or the lower
        `min_cosine_shared_figure` when both sides give one same figure ("14 people",
        "fourteen injured"): a paraphrase far in words, near in fact. The figures are read
        only for a cosine between the two."""
        cosine = self.cosines[i, j]
        if cosine >= config.min_cosine:
            return True
        if cosine < min(config.min_cosine, config.min_cosine_shared_figure):
            return False
        return share_a_figure(self.a[i].english, self.b[j].english)

    def link(self, i: int, j: int, method: str) -> Alignment:
        only_a, only_b = _span_columns(self.a[i].english, self.b[j].english)
        return Alignment(
            self.a[i],
            self.b[j],
            float(self.cosines[i, j]),
            float(self.margins[i, j]),
            method,
            only_a,
            only_b,
            self.relation(i, j),
        )


# One sentence pair is linked in many article pairs where outlets carry the same wire copy:
# the 46,520 links of a 1,000-article synthetic corpus hold 15,790 distinct sentence pairs.
@functools.lru_cache(maxsize=1 << 16)
def _span_columns(english_a: str, english_b: str) -> tuple[str, str]:
    """The divergent spans of a link as the alignments table holds them (only_in_a, only_in_b)."""
    only_a, only_b = divergent_spans(english_a, english_b)
    return SPAN_SEPARATOR.join(only_a), SPAN_SEPARATOR.join(only_b)


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
    """Most sentences of both articles have a close counterpart, in the same order. One close
    link shows no order: two one-line briefs are not translations of each other for that."""
    # Cheapest test first: most article pairs have fewer than two close links.
    ordered = [(i, j) for i, j in links if pair.cosines[i, j] >= config.near_translation_cosine]
    if len(ordered) < 2 or order_agreement(ordered) < config.near_translation_order:
        return False
    close = pair.cosines >= config.near_translation_cosine
    paired_share = min(close.any(axis=1).mean(), close.any(axis=0).mean())
    return paired_share >= config.near_translation_coverage


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
                if pair.cosines[a, b] >= floor
                and pair.margins[a, b] >= MONOTONIC_MIN_MARGIN
                and pair.relation(a, b) != DIFFERENT
            ]
    return links


def merge_candidates(
    pair: ArticlePair, links: list[tuple[int, int]], config: AlignConfig
) -> list[tuple[int, int, int, bool]]:
    """Possible one-to-many links, as (a, b1, b2, flipped): `a` may merge b1 (its link) and b2.

    b2 is a sentence left without a link whose best match is `a`, close enough on its own
    (the cosine floor of `close_enough`) and naming no other people or places (relation): a
    candidate is checked before its joined sentences are embedded, the costly part.
    `flipped` means the roles of the two articles are swapped.
    """
    candidates = []
    for flipped in (False, True):
        margins = pair.margins.T if flipped else pair.margins
        partner = {(j if flipped else i): (i if flipped else j) for i, j in links}
        linked_other = set(partner.values())
        best_for_other = (pair.best_b if flipped else pair.best_a).tolist()
        for b2, a in enumerate(best_for_other):
            if b2 in linked_other or a not in partner:
                continue
            row, column = (b2, a) if flipped else (a, b2)
            if (
                margins[a, b2] >= config.margin_threshold
                and pair.close_enough(row, column, config)
                and pair.relation(row, column) != DIFFERENT
            ):
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
        row, column = (b2, a) if flipped else (a, b2)
        gain = float(alone @ merged) - max(cosines[a, b1], cosines[a, b2])
        if gain >= config.merge_min_gain:
            found.append(pair.link(row, column, "merge"))
    return found


class LinkCache(Protocol):
    """Links already found for an article pair, keyed by both articles' English sentences."""

    def get_links(self, options_key: str, pair_hashes: Iterable[str]) -> dict[str, list]: ...

    def put_links(self, options_key: str, items: Iterable[tuple[str, list]]) -> None: ...


# Bumped whenever what the link cache stores changes shape, or the rules that make links do.
LINK_CACHE_FORMAT = "links-5"


def pair_hash(english_a: str, english_b: str) -> str:
    """The link cache's key for two articles, each given as its English sentences joined by
    \\x1f (joined once per article, not once per pair)."""
    return text_hash(f"{english_a}\x1e{english_b}")


@dataclass(frozen=True)
class PairPlan:
    """What aligning one article pair takes, before any joined sentences are embedded."""

    links: list[tuple[int, int]]  # mutual best above both thresholds
    near_translation: bool
    merges: list[tuple[int, int, int, bool]]  # candidates for one-to-many links

    def needs_model(self, pair: ArticlePair) -> bool:
        """Whether texts_to_embed(pair) is not empty, without joining any sentences."""
        if self.near_translation:
            return len(pair.a) + len(pair.b) > 2
        return bool(self.merges)

    def texts_to_embed(self, pair: ArticlePair) -> list[str]:
        if self.near_translation:
            return [
                _joined(side, (i, i + 1)) for side in (pair.a, pair.b) for i in range(len(side) - 1)
            ]
        return [_merge_text(pair, candidate) for candidate in self.merges]


def plan_pair(pair: ArticlePair, config: AlignConfig, with_joined: bool) -> PairPlan:
    links = [
        (i, j)
        for i, j in pair.mutual_best()
        if pair.margins[i, j] >= config.margin_threshold
        and pair.close_enough(i, j, config)
        and pair.relation(i, j) != DIFFERENT  # other people or places: another claim
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


# New article pairs whose joined sentences are embedded together, in one model call: the pairs
# of many stories share it. A call per story cost ~15 ms of model overhead each (47 calls for
# 218 joined sentences at 1,000 articles took 5.5 s, one call ~2 s).
NEW_PAIRS_PER_SLICE = 2000


def _align_slice(
    pairs: list[tuple[str, ArticlePair, PairPlan]], config: AlignConfig, encode: Encode | None
) -> list[tuple[str, ArticlePair, list[Alignment]]]:
    """The links of each pair; every joined sentence the slice needs is embedded in one call."""
    from_batch: Encode | None = None
    if encode is not None:
        needed = sorted({text for _, pair, plan in pairs for text in plan.texts_to_embed(pair)})
        memo = dict(zip(needed, encode(needed), strict=True)) if needed else {}

        def from_batch(texts: list[str]) -> np.ndarray:
            return np.stack([memo[text] for text in texts])

    return [(key, pair, align_pair(pair, plan, config, from_batch)) for key, pair, plan in pairs]


def _cache_rows(pair: ArticlePair, found: list[Alignment]) -> list[list]:
    """The links of one pair as the link cache stores them: rows within each side, scores."""
    row_a = {s.position: i for i, s in enumerate(pair.a)}
    row_b = {s.position: j for j, s in enumerate(pair.b)}
    return [
        [row_a[x.a.position], row_b[x.b.position], x.cosine, x.margin, x.method, x.only_in_a,
         x.only_in_b, x.relation]
        for x in found
    ]  # fmt: skip


def align(
    sentences: list[Sentence],
    vectors: np.ndarray,
    config: AlignConfig,
    encode: Encode | None = None,
    cache: LinkCache | None = None,
    cache_key: str = "",
    background: np.ndarray | None = None,
) -> list[Alignment]:
    """Statement pairs across articles, sorted by (article_a, position_a, article_b, position_b).

    Without `encode` (which embeds joined sentences) only one-to-one links are made. With a
    `cache`, an article pair whose sentences and options (`cache_key`, which must cover the
    background) were aligned before is not aligned again: a rerun, or a run with one new
    article, redoes only the new pairs. `background`: the vectors of background_sentences()
    (pipeline/background.py), the margin's fixed neighbourhood; without it, neighbours come from
    the other article only.
    """
    return align_stories([(sentences, vectors)], config, encode, cache, cache_key, background)[0]


def align_stories(
    stories: Iterable[tuple[list[Sentence], np.ndarray]],
    config: AlignConfig,
    encode: Encode | None = None,
    cache: LinkCache | None = None,
    cache_key: str = "",
    background: np.ndarray | None = None,
) -> list[list[Alignment]]:
    """align() within each story (its sentences and their vectors, |sentences| x dimension),
    links never crossing stories; one list of links per story, in the order given (`stories`
    may be a generator: each story's vectors are needed only while its pairs are planned).

    Pairs that need joined sentences embedded wait, across stories, until NEW_PAIRS_PER_SLICE
    of them do: their joined sentences are then embedded in one `encode` call and their links
    made. Only the waiting pairs' matrices are held in memory. Links go to the cache in
    batches of NEW_PAIRS_PER_SLICE pairs (a batch once forced the waiting pairs' model call
    early: four calls where two would do).
    """
    found: list[list[Alignment]] = []
    waiting: list[tuple[int, str, ArticlePair, PairPlan]] = []
    to_cache: list[tuple[str, list[list]]] = []

    def finish(pairs: list[tuple[int, str, ArticlePair, PairPlan]]) -> None:
        done = _align_slice([(key, pair, plan) for _, key, pair, plan in pairs], config, encode)
        for (story, *_), (key, pair, links) in zip(pairs, done, strict=True):
            found[story] += links
            to_cache.append((key, _cache_rows(pair, links)))

    def write() -> None:
        if cache and to_cache:
            cache.put_links(cache_key, to_cache)
        to_cache.clear()

    for story, (sentences, vectors) in enumerate(stories):
        known, new = _story_pairs(
            sentences, vectors, config, encode is not None, cache, cache_key, background
        )
        found.append(known)
        for key, pair, plan in new:
            if plan.needs_model(pair):
                waiting.append((story, key, pair, plan))
            else:
                finish([(story, key, pair, plan)])
            if len(waiting) >= NEW_PAIRS_PER_SLICE:
                finish(waiting)
                waiting.clear()
            if len(to_cache) >= NEW_PAIRS_PER_SLICE:
                write()
    finish(waiting)
    write()
    return [
        sorted(links, key=lambda x: (x.a.article_id, x.a.position, x.b.article_id, x.b.position))
        for links in found
    ]


def _story_pairs(
    sentences: list[Sentence],
    vectors: np.ndarray,
    config: AlignConfig,
    with_joined: bool,
    cache: LinkCache | None,
    cache_key: str,
    background: np.ndarray | None,
) -> tuple[list[Alignment], Iterator[tuple[str, ArticlePair, PairPlan]]]:
    """One story's candidate article pairs: the links of those in the link cache, and the
    others, planned one at a time (their link-cache key, the pair, its plan)."""
    if len(sentences) < 2:
        return [], iter(())
    article_names = sorted({s.article_id for s in sentences})
    article_number = {name: i for i, name in enumerate(article_names)}
    article_of = np.array([article_number[s.article_id] for s in sentences])
    rows_of: dict[int, list[int]] = defaultdict(list)
    for row, article in enumerate(article_of):
        rows_of[int(article)].append(row)
    sentences_of = {article: [sentences[r] for r in rows] for article, rows in rows_of.items()}
    english_of = {a: "\x1f".join(s.english for s in side) for a, side in sentences_of.items()}

    distinct = DistinctVectors.of(vectors)
    candidates = candidate_article_pairs(distinct, article_of, config)
    hashes = {(a, b): pair_hash(english_of[a], english_of[b]) for a, b in candidates}
    known = cache.get_links(cache_key, hashes.values()) if cache else {}
    alignments, todo = [], []
    for key in candidates:
        if hashes[key] not in known:
            todo.append(key)
            continue
        side_a, side_b = sentences_of[key[0]], sentences_of[key[1]]
        alignments += [
            Alignment(side_a[i], side_b[j], cosine, margin, method, only_a, only_b, related)
            for i, j, cosine, margin, method, only_a, only_b, related in known[hashes[key]]
        ]

    def planned() -> Iterator[tuple[str, ArticlePair, PairPlan]]:
        around = None
        if background is not None:
            around = background_neighbours(vectors, background, config.k)
        later_of: dict[int, list[int]] = defaultdict(list)
        for a, b in todo:  # sorted: articles in order, each one's partners in order
            later_of[a].append(b)
        # Each article's vectors copied once, not once per pair it is in.
        vectors_of = {article: vectors[rows_of[article]] for article in {*chain(*todo)}}
        # Article by article: the blocks of all its pairs side by side, scored together.
        for a, later in later_of.items():
            rows_a, columns = rows_of[a], Columns.of([rows_of[b] for b in later])
            cosines = distinct.cosines(rows_a, columns.rows)
            around_a = None if around is None else around[rows_a]
            around_b = None if around is None else around[columns.rows]
            row_means = neighbourhood_means(cosines, columns, config.k, around_a)
            column_means = neighbourhood_means(cosines.T, Columns.of([rows_a]), config.k, around_b)
            margins = margins_of(cosines, row_means[:, columns.part], column_means.T)
            best_b = columns.padded(margins).argmax(axis=2)
            best_a = margins.argmax(axis=0)
            for p, b in enumerate(later):
                # Copies: a pair waiting for its model call must not hold the whole row block.
                block = slice(columns.starts[p], columns.starts[p + 1])
                pair = ArticlePair(
                    sentences_of[a], sentences_of[b], vectors_of[a], vectors_of[b],
                    cosines[:, block].copy(), margins[:, block].copy(), best_b[:, p].copy(),
                    best_a[block].copy(),
                )  # fmt: skip
                yield hashes[a, b], pair, plan_pair(pair, config, with_joined)

    return alignments, planned()


@dataclass(frozen=True)
class Columns:
    """The sentences of several partner articles side by side, as the columns of one block."""

    rows: np.ndarray  # column -> row in the story
    starts: np.ndarray  # partner p's columns are starts[p]:starts[p + 1]
    part: np.ndarray  # column -> partner
    offset: np.ndarray  # column -> its row within its partner

    @classmethod
    def of(cls, partners: list[Sequence[int]]) -> Columns:
        """`partners`: each partner's rows in the story, in order."""
        lengths = np.array([len(rows) for rows in partners])
        starts = np.concatenate([[0], np.cumsum(lengths)])
        part = np.repeat(np.arange(len(partners)), lengths)
        offset = np.arange(starts[-1]) - starts[part]
        return cls(np.concatenate(partners).astype(np.int64), starts, part, offset)

    def padded(self, block: np.ndarray) -> np.ndarray:
        """|rows| x |partners| x longest partner: each partner's columns, -inf after its last."""
        if len(self.starts) == 2:  # one partner: nothing to pad
            return block[:, None, :]
        width = int(np.diff(self.starts).max())
        padded = np.full((len(block), len(self.starts) - 1, width), -np.inf, block.dtype)
        padded[:, self.part, self.offset] = block
        return padded


def neighbourhood_means(
    cosines: np.ndarray, columns: Columns, k: int, background: np.ndarray | None
) -> np.ndarray:
    """The ratio margin's neighbourhood means of every block of a |rows| x |columns| cosine
    matrix at once: |rows| x |partners|, each row's mean of its k highest cosines in each
    partner's columns, topped up from `background` (|rows| x k, background_neighbours()) where
    the partner has fewer than k sentences. One sort for all of an article's partners: sorting
    each pair's block apart cost more in numpy's per-call overhead than in the sorts themselves.
    """
    lengths = np.diff(columns.starts)
    top = -np.sort(-columns.padded(cosines), axis=2)[:, :, :k]
    # No place past the longest partner and the whole background can be filled: a larger k
    # (align.k has no upper bound) takes as many values as this one, and no more memory.
    k = min(k, top.shape[2] + (0 if background is None else background.shape[1]))
    if top.shape[2] < k:
        top = np.concatenate([top, np.zeros((*top.shape[:2], k - top.shape[2]), top.dtype)], 2)
    place = np.arange(k)[None, :]
    own = place < lengths[:, None]  # partners x k
    values = np.where(own, top, 0)
    counted = np.minimum(lengths, k)
    if background is not None:
        # The places a partner cannot fill take the row's background cosines, highest first.
        from_background = place - lengths[:, None]
        usable = ~own & (from_background < background.shape[1])
        values = np.where(usable, background[:, np.where(usable, from_background, 0)], values)
        counted = counted + usable.sum(axis=1)
    return (values.sum(axis=2) / counted).astype(cosines.dtype)
