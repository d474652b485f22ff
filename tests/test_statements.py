from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.records import Alignment, Sentence
from pipeline.statements import (
    Statement,
    coverage_matrix,
    group_statements,
    name_statements,
    statement_id,
    unique_sentences,
)


def sentence(article: str, position: int, source: str | None = None) -> Sentence:
    return Sentence(
        article, source or article, position, f"{article}{position}", english=f"{article}{position}"
    )


def normalised(rows: list[list[float]]) -> np.ndarray:
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_chain_through_weak_links_does_not_join_unrelated_statements():
    # A~B and B~C are linked, but A and C say unrelated things (cosine near 0).
    a, b, c = sentence("a", 0), sentence("b", 0), sentence("c", 0)
    vectors = normalised([[1, 0], [1, 1], [0, 1]])
    links = [Alignment(a, b, 0.71, 1.4), Alignment(b, c, 0.71, 1.3)]
    statements = group_statements([a, b, c], vectors, links, min_cosine=0.5)
    assert [[m.article_id for m in s.members] for s in statements] == [["a", "b"]]
    assert [u.sentence for u in unique_sentences([a, b, c], statements, links)] == [c]
    # Had b~c been a one-to-many link (b says what a and c say), c would be carried by b.
    merged = [links[0], Alignment(b, c, 0.71, 1.3, method="merge")]
    assert unique_sentences([a, b, c], statements, merged) == []


def test_a_sentence_another_source_gives_with_other_figures_is_not_unique():
    a, b, c = sentence("a", 0), sentence("b", 0), sentence("c", 0)
    vectors = normalised([[1, 0], [1, 0.1], [0, 1]])
    links = [Alignment(a, b, 0.8, 1.6, relation="disagrees")]
    statements = group_statements([a, b, c], vectors, links, min_cosine=0.5)
    assert statements == []  # only `same` links make groups
    assert [u.sentence for u in unique_sentences([a, b, c], statements, links)] == [c]


def test_a_sentence_without_figures_does_not_join_two_counts_into_one_statement():
    """c gives no figure, so it is the same as a (14) and as b (16); a and b disagree, and
    complete linkage keeps them apart however close their vectors are."""
    texts = ["Fourteen people were taken to hospital.", "Sixteen people were taken to hospital.",
             "People were taken to hospital."]  # fmt: skip
    a, b, c = (
        Sentence(name, name, 0, text, english=text) for name, text in zip("abc", texts, strict=True)
    )
    vectors = normalised([[1, 0.02], [1, 0.03], [1, 0]])
    links = [Alignment(a, c, 0.99, 1.6), Alignment(b, c, 0.99, 1.5),
             Alignment(a, b, 0.99, 1.4, relation="disagrees")]  # fmt: skip
    statements = group_statements([a, b, c], vectors, links, min_cosine=0.5)
    assert [[m.article_id for m in s.members] for s in statements] == [["a", "c"]]


def test_a_statement_carried_by_three_outlets_is_one_group_with_a_central_representative():
    members = [sentence("a", 2), sentence("b", 0), sentence("c", 5)]
    vectors = normalised([[1, 0.1, 0], [1, 0, 0], [1, 0, 0.1]])
    links = [
        Alignment(members[0], members[1], 0.99, 1.5),
        Alignment(members[1], members[2], 0.99, 1.5),
    ]
    (statement,) = group_statements(members, vectors, links, min_cosine=0.5)
    assert statement.id == "S0001"
    assert statement.members == tuple(members)
    assert statement.representative == "b0"  # closest to the other two
    assert statement.sources == ("a", "b", "c")


@pytest.mark.parametrize("larger", [0, 1])
def test_two_sentences_tie_and_rounding_does_not_choose_the_representative(larger):
    """A two-sentence group's centralities differ only by the rounding of each vector's norm,
    which changes with the thread count (a dask run and a local one chose differently)."""
    a, b = sentence("a", 0), sentence("b", 0)
    vectors = np.array([[0.6, 0.8], [0.8, 0.6]], dtype=np.float32)
    vectors[larger] *= np.float32(1.0000002)  # one norm rounds a hair above the other
    (statement,) = group_statements([a, b], vectors, [Alignment(a, b, 0.96, 1.5)], 0.5)
    assert statement.representative == "a0"


def test_two_articles_of_one_outlet_do_not_make_a_statement_shared():
    a, b = sentence("a.txt", 0, source="herald"), sentence("b.txt", 0, source="herald")
    vectors = normalised([[1, 0], [1, 0]])
    statements = group_statements([a, b], vectors, [Alignment(a, b, 1.0, 2.0)], min_cosine=0.5)
    assert statements == []
    links = [Alignment(a, b, 1.0, 2.0)]
    assert [u.sentence for u in unique_sentences([a, b], statements, links)] == [a, b]


def test_coverage_counts_each_outlets_sentences_per_statement():
    # Outlet b carries the statement in two of its articles.
    members = [sentence("a", 0), sentence("b1", 0, source="b"), sentence("b2", 0, source="b")]
    vectors = normalised([[1, 0], [1, 0.05], [1, -0.05]])
    links = [
        Alignment(members[0], members[1], 0.99, 1.4),
        Alignment(members[0], members[2], 0.99, 1.3),
    ]
    statements = group_statements(members, vectors, links, min_cosine=0.5)
    assert coverage_matrix(statements, ["a", "b", "c"]) == [
        {"group": "S0001", "statement": statements[0].representative, "a": 1, "b": 2, "c": 0}
    ]


def test_a_sentence_covering_two_statements_does_not_join_them_into_one():
    # c0 says both what a0 says and what a1 says (a one-to-many link): a0 and a1 are two
    # statements of article a, so they stay in two groups.
    a0, a1, c0 = sentence("a", 0), sentence("a", 1), sentence("c", 0)
    b0, b1 = sentence("b", 0), sentence("b", 1)
    vectors = normalised([[1, 0.3], [0.3, 1], [1, 1], [1, 0.35], [0.35, 1]])
    links = [
        Alignment(a0, b0, 0.99, 1.9), Alignment(a1, b1, 0.99, 1.8),
        Alignment(a0, c0, 0.85, 1.5), Alignment(a1, c0, 0.85, 1.4),
    ]  # fmt: skip
    statements = group_statements([a0, a1, c0, b0, b1], vectors, links, min_cosine=0.5)
    assert [[(m.article_id, m.position) for m in s.members] for s in statements] == [
        [("a", 0), ("b", 0), ("c", 0)],
        [("a", 1), ("b", 1)],
    ]


def test_unique_sentences_count_what_other_sources_left_untranslated():
    a, b = sentence("a", 0), sentence("b", 0)
    skipped = [Sentence("r", "r", i, "Текст.", lang="ru") for i in range(3)]
    own_skipped = Sentence("a", "a", 1, "Текст.", lang="ru")
    unique = unique_sentences([a, b], [], untranslated=[*skipped, own_skipped])
    # a's own untranslated sentence is not another source's: 3 unchecked for a, 4 for b.
    assert [(u.sentence.article_id, u.unchecked) for u in unique] == [("a", 3), ("b", 4)]


def test_a_statement_keeps_its_earlier_id_and_two_never_share_one():
    a = Sentence("a.txt", "a", 0, "One.", english="One.")
    b = Sentence("b.txt", "b", 3, "One!", english="One!")
    c = Sentence("c.txt", "c", 0, "One?", english="One?")
    d = Sentence("d.txt", "d", 1, "Two.", english="Two.")
    published = {"a.txt": None, "b.txt": datetime(2026, 10, 2, tzinfo=UTC), "c.txt": None}
    # The last run grouped a and c as S-old; b joins now, dated, so it is the first carrier.
    # A second statement split off the old one (c with d) must not take its id too.
    first, second = name_statements(
        [Statement("x", (a, b), "One."), Statement("y", (c, d), "One?")],
        published,
        {("a.txt", "One."): "S-old", ("c.txt", "One?"): "S-old"},
    )
    assert first.id == "S-old"
    assert second.id == statement_id(c) != "S-old"
    (fresh,) = name_statements([Statement("z", (a, b), "One.")], published, {})
    assert fresh.id == statement_id(b)  # new: named after its first dated carrier
