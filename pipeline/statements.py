"""Statement groups: which outlets carried which statement, and what only one outlet said.

Groups grow from the alignment links, strongest first, by complete linkage: two groups merge
only if every pair of their sentences from different articles is close (cosine at least
`group_min_cosine`). Plain connected components would chain A~B~C into one statement even
when A and C say unrelated things.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from pipeline.records import Alignment, Sentence


@dataclass(frozen=True)
class Statement:
    """One statement and the sentences, from two or more sources, that carry it."""

    id: str
    members: tuple[Sentence, ...]
    representative: str  # the English side of the member closest to all the others

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({m.source for m in self.members}))


def _key(sentence: Sentence) -> tuple[str, int]:
    return (sentence.article_id, sentence.position)


def group_statements(
    sentences: list[Sentence],
    vectors: np.ndarray,
    alignments: list[Alignment],
    min_cosine: float,
) -> list[Statement]:
    """Statements carried by at least two sources, ordered by their first member."""
    row_of = {_key(s): row for row, s in enumerate(sentences)}
    group_of = {row: row for row in range(len(sentences))}  # row -> group id (a row)
    members: dict[int, list[int]] = {row: [row] for row in range(len(sentences))}

    article_numbers = {name: n for n, name in enumerate(sorted({s.article_id for s in sentences}))}
    article_of = np.array([article_numbers[s.article_id] for s in sentences])

    def compatible(first: list[int], second: list[int]) -> bool:
        cosines = vectors[first] @ vectors[second].T
        different = article_of[first][:, None] != article_of[second][None, :]
        return bool(np.all(cosines[different] >= min_cosine))

    for link in sorted(alignments, key=lambda x: (-x.margin, _key(x.a), _key(x.b))):
        first, second = group_of[row_of[_key(link.a)]], group_of[row_of[_key(link.b)]]
        if first == second or not compatible(members[first], members[second]):
            continue
        members[first] += members.pop(second)
        for row in members[first]:
            group_of[row] = first

    groups = [
        sorted(rows, key=lambda r: _key(sentences[r]))
        for rows in members.values()
        if len({sentences[r].source for r in rows}) >= 2
    ]
    groups.sort(key=lambda rows: _key(sentences[rows[0]]))
    statements = []
    for number, rows in enumerate(groups, start=1):
        centrality = (vectors[rows] @ vectors[rows].T).sum(axis=1)
        representative = sentences[rows[int(np.argmax(centrality))]].english
        statements.append(
            Statement(f"S{number:04d}", tuple(sentences[r] for r in rows), representative)
        )
    return statements


def unique_sentences(sentences: list[Sentence], statements: list[Statement]) -> list[Sentence]:
    """Sentences with an English side that no other source carries, by source then position."""
    carried = {_key(m) for statement in statements for m in statement.members}
    alone = [s for s in sentences if s.english and _key(s) not in carried]
    return sorted(alone, key=lambda s: (s.source, s.article_id, s.position))


def coverage_matrix(statements: list[Statement], sources: list[str]) -> list[dict[str, object]]:
    """One row per statement: for each source, how many of its sentences carry it."""
    rows = []
    for statement in statements:
        count = defaultdict(int)
        for member in statement.members:
            count[member.source] += 1
        rows.append(
            {"group": statement.id, "statement": statement.representative}
            | {source: count[source] for source in sources}
        )
    return rows
