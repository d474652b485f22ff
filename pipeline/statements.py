"""Statement groups: which outlets carried which statement, and what only one outlet said.

Groups grow from the alignment links, strongest first, by complete linkage: two groups merge
only if every pair of their sentences from different articles is close (cosine at least
`group_min_cosine`) and states the same facts (pipeline/relation.py: a sentence without
figures links to "14 people" and to "16 people", which must not become one statement), and no
article would have two different sentences in the group. Plain
connected components would chain A~B~C into one statement even when A and C say unrelated
things; and an article says a statement once, so two of its sentences in one group mean two
statements joined, through a sentence of another outlet that covers both (a one-to-many link)
or a vaguer one that is close to both.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from pipeline.align import DistinctVectors
from pipeline.records import Alignment, Sentence
from pipeline.relation import SAME, relation


@dataclass(frozen=True)
class Statement:
    """One statement and the sentences, from two or more sources, that carry it."""

    id: str
    members: tuple[Sentence, ...]
    representative: str  # the English side of the member closest to all the others
    story: str = ""  # the story (pipeline/stories.py) its members' articles belong to

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({m.source for m in self.members}))


# Centralities closer than this to the best are ties (a cosine's rounding is ~1e-7).
CENTRALITY_TIE = 1e-4


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
    distinct = DistinctVectors.of(vectors)
    article_numbers = {name: n for n, name in enumerate(sorted({s.article_id for s in sentences}))}
    group_of = list(range(len(sentences)))  # row -> group id (a row)
    members: dict[int, list[int]] = {row: [row] for row in range(len(sentences))}
    # Per group, each distinct vector once (a statement carried word for word by many outlets
    # is one row), with the articles it occurs in, so checking a merge costs one cosine per pair
    # of distinct vectors rather than per pair of sentences.
    articles_in: dict[int, dict[int, set[int]]] = {}
    distinct_rows: dict[int, np.ndarray] = {}
    for row, sentence in enumerate(sentences):
        articles_in[row] = {int(distinct.of_row[row]): {article_numbers[sentence.article_id]}}
        distinct_rows[row] = distinct.vectors[distinct.of_row[row]][None, :]

    def vectors_by_article(group: int) -> dict[int, set[int]]:
        found: dict[int, set[int]] = defaultdict(set)
        for vector, articles in articles_in[group].items():
            for article in articles:
                found[article].add(vector)
        return found

    # Per group, its sentences' English sides, each once.
    english_in: dict[int, set[str]] = {row: {s.english} for row, s in enumerate(sentences)}

    def compatible(first: int, second: int) -> bool:
        """The groups hold no two different sentences of one article, and every two sentences
        of theirs from different articles are close enough and state the same facts."""
        by_article_first, by_article_second = vectors_by_article(first), vectors_by_article(second)
        for article in by_article_first.keys() & by_article_second.keys():
            if by_article_first[article] != by_article_second[article]:
                return False
        cosines = distinct_rows[first] @ distinct_rows[second].T
        if cosines.min() < min_cosine:
            ids_first, ids_second = list(articles_in[first]), list(articles_in[second])
            for i, j in zip(*np.nonzero(cosines < min_cosine), strict=True):
                seen_first = articles_in[first][ids_first[i]]
                seen_second = articles_in[second][ids_second[j]]
                # Too far apart is allowed only within one article: both in the same single one.
                if not (len(seen_first) == 1 and seen_first == seen_second):
                    return False
        # The facts last: reading a sentence's facts costs more than a product of vectors.
        return all(
            relation(a, b) == SAME for a in english_in[first] for b in english_in[second] if a != b
        )

    # Groups only grow, and a grown group keeps its id: two groups found incompatible stay so.
    incompatible: set[tuple[int, int]] = set()
    # Strongest first; ties in sentence order. One flat tuple per link: 300,000 links at 1,000
    # articles make the key function a measurable part of a rerun.
    strongest_first = sorted(
        (x for x in alignments if x.relation == SAME),
        key=lambda x: (-x.margin, x.a.article_id, x.a.position, x.b.article_id, x.b.position),
    )
    for link in strongest_first:
        a, b = link.a, link.b
        first = group_of[row_of[a.article_id, a.position]]
        second = group_of[row_of[b.article_id, b.position]]
        if first == second or (min(first, second), max(first, second)) in incompatible:
            continue
        if not compatible(first, second):
            incompatible.add((min(first, second), max(first, second)))
            continue
        if len(members[first]) < len(members[second]):  # relabel the smaller group
            first, second = second, first
        for row in members[second]:
            group_of[row] = first
        members[first] += members.pop(second)
        english_in[first] |= english_in.pop(second)
        added = []
        for vector, articles in articles_in.pop(second).items():
            if vector not in articles_in[first]:
                added.append(vector)
            articles_in[first].setdefault(vector, set()).update(articles)
        # Rows stay in the order of articles_in's keys, which compatible() relies on.
        distinct_rows[first] = np.vstack([distinct_rows[first], distinct.vectors[added]])
        del distinct_rows[second]

    groups = [
        sorted(rows, key=lambda r: _key(sentences[r]))
        for rows in members.values()
        if len({sentences[r].source for r in rows}) >= 2
    ]
    groups.sort(key=lambda rows: _key(sentences[rows[0]]))
    statements = []
    for number, rows in enumerate(groups, start=1):
        centrality = (vectors[rows] @ vectors[rows].T).sum(axis=1)
        # Near-equal centralities are a tie, and the first sentence (article, position) takes
        # it. Two sentences always tie (each scores its own norm plus their cosine): float
        # rounding, which changes with the machine and the thread count, chose between them.
        best = int(np.flatnonzero(centrality >= centrality.max() - CENTRALITY_TIE)[0])
        representative = sentences[rows[best]].english
        statements.append(
            Statement(f"S{number:04d}", tuple(sentences[r] for r in rows), representative)
        )
    return statements


@dataclass(frozen=True)
class UniqueSentence:
    """A sentence no other source carries, as far as could be checked."""

    sentence: Sentence
    # Sentences of other sources with no English side (their language was skipped): they were
    # not compared, and one of them may carry this statement. 0: the claim is complete.
    unchecked: int = 0


def unique_sentences(
    sentences: list[Sentence],
    statements: list[Statement],
    alignments: list[Alignment] = (),
    untranslated: list[Sentence] = (),
) -> list[UniqueSentence]:
    """Sentences with an English side that no other source carries, by source then position;
    each with how many `untranslated` sentences of other sources it was not compared with.

    Carried means in a statement group, or linked to a sentence of another source by a link
    that grouping leaves out by design: a `disagrees` link (another source gives the claim
    with other figures) or a one-to-many `merge` link (the sentence is half of what another
    source's sentence says, while its article's other half took the group's one seat). A
    mutual `same` link that grouping refused, its sentence not close to every member of its
    partner's group, does not count: that refusal is what complete linkage is for."""
    carried = {_key(m) for statement in statements for m in statement.members}
    for link in alignments:
        if link.a.source != link.b.source and (link.relation != SAME or link.method == "merge"):
            carried |= {_key(link.a), _key(link.b)}
    alone = [s for s in sentences if s.english and _key(s) not in carried]
    untranslated_in = defaultdict(int)
    for sentence in untranslated:
        untranslated_in[sentence.source] += 1
    total = sum(untranslated_in.values())
    return [
        UniqueSentence(s, total - untranslated_in[s.source])
        for s in sorted(alone, key=lambda s: (s.source, s.article_id, s.position))
    ]


def carriers_in_order(
    statement: Statement, published: Mapping[str, datetime | None]
) -> list[Sentence]:
    """The statement's members, first carrier first: by their article's publication date
    (`published`: article id -> date, None when it states none; undated articles last), then
    article id and position."""
    latest = datetime.max.replace(tzinfo=UTC)
    return sorted(
        statement.members,
        key=lambda m: (published.get(m.article_id) or latest, m.article_id, m.position),
    )


def statement_id(first: Sentence) -> str:
    """A new statement's id, from its first carrier's article and words: "S" and 10 hex
    digits. It depends on the statement's content alone, not on the order of the run."""
    key = f"{first.article_id}\x1f{first.text}".encode()
    return "S" + hashlib.sha256(key).hexdigest()[:10]


def name_statements(
    statements: list[Statement],
    published: Mapping[str, datetime | None],
    previous: Mapping[tuple[str, str], str],
    taken: set[str] | None = None,
) -> list[Statement]:
    """`statements` with their ids: the id most of its members' sentences had in the last run
    (`previous`: (article id, original text) -> id), where no earlier statement took it; else
    statement_id() of its first carrier. So a statement keeps its id when later articles join
    it, however their dates compare, and ids stay unique: none of those `taken` already (by
    statements kept from the last run) is given again."""
    taken = set(taken or ())
    named = []
    for statement in statements:
        old = Counter(
            previous[key]
            for key in ((m.article_id, m.text) for m in statement.members)
            if key in previous
        )
        free = [i for i, _ in old.most_common() if i not in taken]
        fresh = (statement_id(m) for m in carriers_in_order(statement, published))
        new = free[0] if free else next((i for i in fresh if i not in taken), None)
        if new is None:  # every member's id taken: a suffix keeps it unique
            new = statement_id(dataclasses.replace(statement.members[0], text=f"#{len(named)}"))
        taken.add(new)
        named.append(dataclasses.replace(statement, id=new))
    return named


def lag_hours(
    article: str, first_article: str, published: Mapping[str, datetime | None]
) -> float | None:
    """How many hours after `first_article` `article` was published (`published`: article id
    -> date); None when either states no date."""
    mine, theirs = published.get(article), published.get(first_article)
    if mine is None or theirs is None:
        return None
    return (mine - theirs).total_seconds() / 3600


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
