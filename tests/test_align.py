import numpy as np
import pytest

from pipeline.align import (
    Columns,
    align,
    align_stories,
    mutual_best,
    neighbourhood_means,
    ratio_margin,
)
from pipeline.config import AlignConfig
from pipeline.records import Sentence


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def sentences_for(layout: list[tuple[str, int]]) -> list[Sentence]:
    return [
        Sentence(article, article, position, f"{article}:{position}", english="x")
        for article, position in layout
    ]


def test_ratio_margin_prefers_a_distinct_match_over_a_sentence_close_to_everything():
    cosines = np.array(
        [
            [0.90, 0.20, 0.10],  # row 0 has one clear match
            [0.60, 0.58, 0.59],  # row 1 is equally close to everything
        ]
    )
    margins = ratio_margin(cosines, k=2)
    assert margins[0, 0] > margins[1, 1]
    assert margins[0, 0] > 1.3


def test_neighbourhood_means_of_partners_side_by_side_match_each_block_on_its_own():
    # One article's rows against three partners of 1, 3 and 6 sentences (k = 4): the first two
    # cannot supply k neighbours and are topped up from the background, the third can.
    rng = np.random.default_rng(1)
    cosines = rng.uniform(-0.2, 1.0, size=(5, 10)).astype(np.float32)
    background = -np.sort(-rng.uniform(0.0, 0.6, size=(5, 4)).astype(np.float32), axis=1)
    partners = [[0], [1, 2, 3], [4, 5, 6, 7, 8, 9]]
    means = neighbourhood_means(cosines, Columns.of(partners), 4, background)
    assert means.shape == (5, 3) and means.dtype == np.float32
    for p, columns in enumerate(partners):
        for row in range(5):
            own = sorted(cosines[row, columns].tolist(), reverse=True)[:4]
            expected = np.mean(own + background[row, : 4 - len(own)].tolist())
            assert means[row, p] == pytest.approx(expected, abs=1e-6)
    # Without a background, a short partner's mean is over the neighbours it has.
    alone = neighbourhood_means(cosines, Columns.of(partners), 4, None)
    assert alone[2, 1] == pytest.approx(cosines[2, 1:4].mean(), abs=1e-6)
    # A k beyond every partner and the whole background takes what there is, in bounded memory.
    huge = neighbourhood_means(cosines, Columns.of(partners), 10**12, background)
    assert np.array_equal(huge, neighbourhood_means(cosines, Columns.of(partners), 10, background))
    # ratio_margin, one block at a time, is the same computation.
    block = cosines[:, 1:4]
    margins = ratio_margin(block, 4, background, background[:3])
    column_means = neighbourhood_means(block.T, Columns.of([range(5)]), 4, background[:3])
    assert np.allclose(margins, block / ((means[:, 1:2] + column_means.T) / 2))


def test_mutual_best_keeps_only_pairs_best_in_both_directions():
    scores = np.array([[0.9, 0.8], [0.95, 0.1]])
    # row 0 prefers col 0, but col 0 prefers row 1; row 1 prefers col 0: only (1, 0) is mutual
    assert mutual_best(scores) == [(1, 0)]


def test_reordered_articles_align_regardless_of_order():
    statements = [
        unit(1, 0, 0, 0, 0),
        unit(0, 1, 0, 0, 0),
        unit(0, 0, 1, 0, 0),
        unit(0, 0, 0, 1, 0),
    ]
    noise = unit(0, 0, 0, 0, 1)
    layout = [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("b", 2), ("b", 3)]
    vectors = np.stack(
        [
            statements[0], statements[1], statements[2],  # article a
            statements[2] * 0.9 + noise * 0.1,            # b reverses a's order ...
            statements[1], statements[0] * 0.95 + noise * 0.05,
            statements[3],                                # ... and adds one of its own
        ]
    )  # fmt: skip
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    found = align(
        sentences_for(layout), vectors.astype(np.float32), AlignConfig(k=2, margin_threshold=1.05)
    )
    assert [(x.a.position, x.b.position) for x in found] == [(0, 2), (1, 1), (2, 0)]
    assert all(x.a.article_id == "a" and x.b.article_id == "b" for x in found)


def test_unrelated_articles_give_no_alignment():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(10, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    layout = [("a", i) for i in range(5)] + [("b", i) for i in range(5)]
    assert align(sentences_for(layout), vectors, AlignConfig()) == []


def test_same_article_sentences_never_align():
    vectors = np.stack([unit(1, 0), unit(1, 0.01), unit(0, 1)])
    found = align(
        sentences_for([("a", 0), ("a", 1), ("b", 0)]),
        vectors,
        AlignConfig(min_cosine=0.0, margin_threshold=0.0),
    )
    assert all(x.a.article_id != x.b.article_id for x in found)


def test_output_order_is_deterministic_under_input_shuffle():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(6, 16)).astype(np.float32)
    layout, rows = [], []
    for article in ("c", "a", "b"):
        for position in range(6):
            layout.append((article, position))
            rows.append(base[position] + rng.normal(scale=0.05, size=16))
    vectors = np.array(rows, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sentences = sentences_for(layout)
    first = align(sentences, vectors, AlignConfig())
    order = rng.permutation(len(sentences))
    second = align([sentences[i] for i in order], vectors[order], AlignConfig())
    assert first == second
    assert len(first) == 18  # 6 statements x 3 article pairs
    keys = [(x.a.article_id, x.a.position, x.b.article_id, x.b.position) for x in first]
    assert keys == sorted(keys)


def test_a_sentence_many_articles_repeat_word_for_word_pairs_by_article_name_not_row_order():
    # Thirty articles share one boilerplate line; each looks at only 3 neighbours, so the
    # choice among thirty exact ties must depend on the articles, not on where rows sit.
    axes = np.eye(31, dtype=np.float32)
    layout, rows = [], []
    for number in range(30):
        layout += [(f"a{number:02d}", 0), (f"a{number:02d}", 1)]
        rows += [axes[0], axes[number + 1]]  # the boilerplate, then a line of its own
    vectors = np.array(rows)
    sentences = sentences_for(layout)
    config = AlignConfig(candidates=3)

    def pairs(found):
        return {(x.a.article_id, x.b.article_id) for x in found}

    first = align(sentences, vectors, config)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(sentences))
        assert pairs(align([sentences[i] for i in order], vectors[order], config)) == pairs(first)
    # Every article reaches the three earliest others by name.
    for late in ("a15", "a29"):
        assert {a for a, b in pairs(first) if late in (a, b)} == {"a00", "a01", "a02"}
    # ... and so each of those three is reached by every article.
    assert {b for a, b in pairs(first) if a == "a01"} == {f"a{n:02d}" for n in range(2, 30)}


@pytest.mark.parametrize("count", [0, 1])
def test_fewer_than_two_sentences_align_to_nothing(count):
    vectors = np.ones((count, 4), dtype=np.float32) / 2
    assert align(sentences_for([("a", i) for i in range(count)]), vectors, AlignConfig()) == []


def lookup_encoder(vector_of: dict[str, np.ndarray]):
    """An encoder for tests: a joined text is the normalised sum of its parts' vectors."""

    def encode(texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            total = sum(vector_of[part] for part in text.split(" "))
            rows.append(total / np.linalg.norm(total))
        return np.array(rows, dtype=np.float32)

    return encode


def english_sentences(layout: list[tuple[str, int, str]]) -> list[Sentence]:
    return [
        Sentence(article, article, position, text, english=text)
        for article, position, text in layout
    ]


def test_a_sentence_merging_two_statements_links_to_both():
    rng = np.random.default_rng(3)
    x, y, noise1, noise2 = (unit(*rng.normal(size=32)) for _ in range(4))
    vector_of = {"X": x, "Y": y, "XY": (x + y) / np.linalg.norm(x + y), "N1": noise1, "N2": noise2}
    sentences = english_sentences(
        [("a", 0, "XY"), ("a", 1, "N1"), ("b", 0, "X"), ("b", 1, "N2"), ("b", 2, "Y")]
    )
    vectors = lookup_encoder(vector_of)([s.english for s in sentences])
    config = AlignConfig(k=2, margin_threshold=1.05, min_cosine=0.5)
    found = align(sentences, vectors, config, encode=lookup_encoder(vector_of))
    links = {(x.a.english, x.b.english, x.method) for x in found}
    assert ("XY", "X", "mutual") in links or ("XY", "Y", "mutual") in links
    assert {(a, b) for a, b, _ in links} == {("XY", "X"), ("XY", "Y")}
    assert any(method == "merge" for _, _, method in links)
    # Without an encoder there is no way to check the merge: one-to-one only.
    assert len(align(sentences, vectors, config)) == 1


def test_a_near_translation_is_aligned_in_order_with_a_two_to_one_bead():
    rng = np.random.default_rng(5)
    base = [unit(*rng.normal(size=48)) for _ in range(6)]
    vector_of = {f"S{i}": v for i, v in enumerate(base)}
    # b translates a, but splits a's third sentence (S2) into two halves.
    half1, half2 = (
        unit(*(base[2] + 0.9 * unit(*rng.normal(size=48)))),
        unit(*(base[2] - 0.9 * unit(*rng.normal(size=48)))),
    )
    vector_of |= {"H1": half1, "H2": half2}
    a = [("a", i, f"S{i}") for i in range(6)]
    b = [
        ("b", 0, "S0"),
        ("b", 1, "S1"),
        ("b", 2, "H1"),
        ("b", 3, "H2"),
        ("b", 4, "S3"),
        ("b", 5, "S4"),
        ("b", 6, "S5"),
    ]
    sentences = english_sentences(a + b)
    encode = lookup_encoder(vector_of)
    vectors = encode([s.english for s in sentences])
    found = align(sentences, vectors, AlignConfig(min_cosine=0.3), encode=encode)
    assert {x.method for x in found} == {"monotonic"}
    pairs = [(x.a.position, x.b.position) for x in found]
    assert pairs == [(0, 0), (1, 1), (2, 2), (2, 3), (3, 4), (4, 5), (5, 6)]


def test_stories_aligned_together_share_one_model_call_and_keep_their_links():
    """align_stories embeds the joined sentences of every story's new pairs in one call (a
    call per story cost ~15 ms of model overhead each) and gives each story align()'s links."""
    rng = np.random.default_rng(7)
    x, y, n1, n2 = (unit(*rng.normal(size=48)) for _ in range(4))
    vector_of = {"X": x, "Y": y, "XY": unit(*(x + y)), "N1": n1, "N2": n2}
    merging = english_sentences(
        [("a", 0, "XY"), ("a", 1, "N1"), ("b", 0, "X"), ("b", 1, "N2"), ("b", 2, "Y")]
    )
    base = [unit(*rng.normal(size=48)) for _ in range(4)]
    vector_of |= {f"S{i}": v for i, v in enumerate(base)}
    vector_of |= {"H1": unit(*(base[1] + 0.9 * unit(*rng.normal(size=48))))}
    vector_of |= {"H2": unit(*(base[1] - 0.9 * unit(*rng.normal(size=48))))}
    translated = english_sentences(
        [("c", i, f"S{i}") for i in range(4)]
        + [("d", 0, "S0"), ("d", 1, "H1"), ("d", 2, "H2"), ("d", 3, "S2"), ("d", 4, "S3")]
    )
    config = AlignConfig(k=2, margin_threshold=1.05, min_cosine=0.3)
    lookup = lookup_encoder(vector_of)
    calls = []

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return lookup(texts)

    stories = [(s, lookup([x.english for x in s])) for s in (merging, translated)]
    together = align_stories(stories, config, encode=counting)
    assert len(calls) == 1
    assert {x.method for x in together[0]} >= {"merge"}
    assert {x.method for x in together[1]} == {"monotonic"}
    assert together == [align(s, v, config, encode=lookup) for s, v in stories]


def test_order_agreement_is_the_share_of_links_in_order():
    from pipeline.align import order_agreement

    assert order_agreement([(0, 0), (1, 1), (2, 2)]) == 1.0
    assert order_agreement([(0, 2), (1, 1), (2, 0)]) == 1 / 3
    assert order_agreement([]) == 0.0
