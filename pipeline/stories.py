"""Stories: the articles about one event, across sources, languages and days.

A corpus collected from the web holds many events at once; statements are aligned within a
story only. Two articles are about the same event when, on their English side,
- their article vectors (the mean of their sentences' vectors) are close: cosine at least
  `min_cosine` (found with a FAISS range search);
- they name the same people, places and organisations, and give the same figures: of the names
  and figures the article with fewer gives, at least `min_shared_names` (a share) are in the
  other too. Two articles on one topic (two fires, two rate decisions) are close in the
  embedding space, but name other places and people, or give other figures. An article that
  names nothing is judged by its vector alone. Where each
  names two or more and half of the shorter list are in both, a cosine of `min_cosine_named`
  is close enough: a short article padded with other news has a vector further off;
- where each gives two or more figures, at least `min_shared_figures` of the shorter list of
  figures are in both: the same place and one coincidental number do not make two stories one
  (the second fire in a town that week gives other counts);
- they were published at most `window_days` apart, where both give a date. An undated article
  joins the story of its closest dated article only, on a link of `min_cosine`: it cannot
  bridge two stories weeks apart, and names shared do not make up for a date unchecked.
A story is a connected component of that relation (single link, as in nearest-neighbour first
story detection: Allan, Papka & Lavrenko 1998, "On-line new event detection and tracking";
Petrovic, Osborne & Lavrenko 2010, "Streaming first story detection with application to
Twitter"). Components do not depend on the order articles came in.

Story ids are stable across runs: a story takes the id its articles had in the previous run
(OUTPUT/latest/articles.csv). When articles of several earlier stories meet, the story keeps the
oldest id (the one whose first article was published first) and the merge is logged; when an
earlier story's articles fall apart, the part with its first article keeps the id and the
split is logged. A story none of whose articles had an id is named after its first article (or,
where that id is already another story's, after the next of its articles whose id is free):
the id depends on the articles alone.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import faiss
import numpy as np
from scipy import sparse

from pipeline.config import StoriesConfig
from pipeline.records import Article, Sentence
from pipeline.relation import figures, names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Story:
    """One event and the articles about it, earliest first."""

    id: str
    articles: tuple[str, ...]  # article ids, by (published, id)
    title: str  # the headline (or, without one, the first sentence) of its most central article
    first_published: str  # as the articles state it; "" when none does
    last_published: str
    sources: tuple[str, ...]
    languages: tuple[str, ...]


@dataclass(frozen=True)
class StoryChange:
    """A merge (earlier stories `others` joined story `kept`) or a split (story `kept` lost
    articles to the new stories `others`), for the run's log and run.json."""

    kind: str  # "merge" or "split"
    kept: str
    others: tuple[str, ...]


def parse_published(text: str) -> datetime | None:
    """A publication date as pages and feeds write it: ISO 8601 ("2026-11-30",
    "2026-11-30T08:00:00Z"), RFC 2822 ("Mon, 30 Nov 2026 08:00:00 GMT") or day first, as
    Russian and Ukrainian outlets write it ("30.11.2026", "30.11.2026 08:00"); None when it is
    none of these. A date without a zone is taken as UTC, a day without a time as midnight."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = _day_first(text)
        if moment is None:
            try:
                moment = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day_first(text: str) -> datetime | None:
    for layout in ("%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y, %H:%M"):
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            continue
    return None


def story_id(first_article: str) -> str:
    """The id of a story first seen with this article: "T" and 10 hex digits of its hash."""
    return "T" + hashlib.sha256(first_article.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class ArticleFeatures:
    """What the stories stage knows of an article: enough to place it without its sentences."""

    language: str  # the language most of its sentences are in
    vector: np.ndarray | None  # mean of its embedded sentences' vectors, unit length; None if none
    named: frozenset[str]  # people, places, organisations and figures ("#200") it names
    first_english: str  # its first embedded sentence, to title a story by; "" if none


def article_features(
    embedded: Sequence[Sentence], vectors: np.ndarray, languages: Mapping[str, str]
) -> dict[str, ArticleFeatures]:
    """Features of every article in `languages` (article id -> its language).

    `embedded` are the sentences that were embedded (an English side, not boilerplate),
    `vectors` their unit-length embeddings (|embedded| x dim, float32), row for row. Raises
    ValueError when they differ in number.
    """
    if len(vectors) != len(embedded):
        raise ValueError(f"{len(embedded)} sentences but {len(vectors)} vectors")
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, sentence in enumerate(embedded):
        rows_of[sentence.article_id].append(row)
    features = {}
    for article, language in languages.items():
        rows = rows_of.get(article)
        vector = None
        if rows:
            mean = vectors[rows].mean(axis=0)
            vector = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype("float32")
        named = frozenset().union(*(_named(embedded[r].english) for r in rows or ()))
        first = embedded[rows[0]].english if rows else ""
        features[article] = ArticleFeatures(language, vector, named, first)
    return features


# In the names product, a shared figure counts this much and a shared name 1, so one number
# holds both counts (no article names a million things).
_FIGURE_WEIGHT = 1 << 20
_BATCH = 1024  # query articles per FAISS range search: bounds the memory of its results


def story_links(
    features: Mapping[str, ArticleFeatures],
    published: Mapping[str, datetime | None],
    config: StoriesConfig,
    among: Collection[str] | None = None,
) -> list[tuple[str, str, float]]:
    """The article pairs about one event (see the module docstring), as (first, second,
    cosine) with first < second and cosine rounded to 5 decimals; only pairs with an article
    in `among` (None: every pair).

    Whether two articles are linked depends on the two alone, so a run that adds articles
    needs only their links. Candidates are the pairs at least the lower cosine threshold apart
    (FAISS range search, exact inner product, of `among` against all, in batches); the names
    and figures they share come from one sparse product (scipy) per batch, and the rule is
    applied to all candidates at once.
    """
    ids = sorted(article for article, f in features.items() if f.vector is not None)
    if len(ids) < 2:
        return []
    matrix = np.stack([features[article].vector for article in ids]).astype("float32")
    index = faiss.IndexFlatIP(matrix.shape[1])
    index.add(matrix)
    queried = np.array(
        [n for n, article in enumerate(ids) if among is None or article in among], dtype=np.int64
    )
    times = np.array([_timestamp(published.get(article)) for article in ids])
    in_query = np.zeros(len(ids), dtype=bool)
    in_query[queried] = True
    floor = floor_cosine(config)
    links = []
    for start in range(0, len(queried), _BATCH):
        batch = queried[start : start + _BATCH]
        # A cosine just under the floor in float32 must not be lost to the last bits.
        limits, scores, found = index.range_search(matrix[batch], floor - 1e-6)
        rows = np.repeat(np.arange(len(batch)), np.diff(limits).astype(np.int64))
        own, other = batch[rows], found.astype(np.int64)
        # Each pair once: from its lower row where both are queried.
        keep = (other != own) & (~in_query[other] | (other > own))
        rows, own, other = rows[keep], own[keep], other[keep]
        if not len(rows):
            continue
        cosine = np.round(scores[keep].astype(np.float64), 5)
        # Names of the articles in these candidate pairs only: a run that adds one article
        # looks at its neighbours' names, not at every article's.
        involved, local = np.unique(np.concatenate([own, other]), return_inverse=True)
        names, weighted = _incidence([features[ids[n]].named for n in involved])
        named = np.zeros(len(ids), np.int64)
        named[involved] = np.asarray(names.sum(axis=1)).ravel()
        figures = np.zeros(len(ids), np.int64)
        figures[involved] = np.asarray(
            (weighted.multiply(names) >= _FIGURE_WEIGHT).sum(axis=1)
        ).ravel()
        asking, row_of = np.unique(local[: len(own)], return_inverse=True)
        shared = _pick(weighted[asking] @ names.T, row_of, local[len(own) :])
        same = _same_event(
            cosine, shared // _FIGURE_WEIGHT, shared % _FIGURE_WEIGHT + shared // _FIGURE_WEIGHT,
            (named[own], named[other]), (figures[own], figures[other]), config,
        )  # fmt: skip
        gap = np.abs(times[own] - times[other])  # NaN where either is undated
        same &= np.isnan(gap) | (gap <= config.window_days * 86400)
        for a, b, value in zip(own[same], other[same], cosine[same], strict=True):
            first, second = sorted((int(a), int(b)))
            links.append((ids[first], ids[second], float(value)))
    return sorted(links)


def _incidence(named: list[frozenset[str]]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Articles x names (and figures) matrices: 1 where the article gives it; and the same with
    each figure weighted _FIGURE_WEIGHT."""
    vocabulary: dict[str, int] = {}
    rows, columns, weights = [], [], []
    for row, items in enumerate(named):
        for item in items:
            rows.append(row)
            columns.append(vocabulary.setdefault(item, len(vocabulary)))
            weights.append(_FIGURE_WEIGHT if item.startswith("#") else 1)
    shape = (len(named), max(len(vocabulary), 1))
    ones = sparse.csr_matrix((np.ones(len(rows), np.int64), (rows, columns)), shape=shape)
    weighted = sparse.csr_matrix((np.array(weights, np.int64), (rows, columns)), shape=shape)
    return ones, weighted


def _pick(matrix: sparse.csr_matrix, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """matrix[rows[k], columns[k]] for every k (0 where not stored), by a sorted search: far
    faster than scipy's fancy indexing for a million cells."""
    product = matrix.tocoo()
    width = np.int64(matrix.shape[1])
    keys = product.row.astype(np.int64) * width + product.col
    order = np.argsort(keys)
    keys, values = keys[order], product.data[order]
    wanted = rows.astype(np.int64) * width + columns
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    if not len(keys):
        return np.zeros(len(wanted), dtype=np.int64)
    return np.where(keys[at] == wanted, values[at], 0)


def _timestamp(moment: datetime | None) -> float:
    return float("nan") if moment is None else moment.timestamp()


def group_stories(
    articles: Sequence[Article],
    features: Mapping[str, ArticleFeatures],
    links: Sequence[tuple[str, str, float]],
    previous: Mapping[str, str] | None = None,
    reserved: Collection[str] = (),
    min_cosine: float = StoriesConfig.min_cosine,
) -> tuple[list[Story], list[StoryChange]]:
    """Group `articles` (those with `features`) into stories, the connected components of
    `links` (story_links()); returns the stories, earliest first, and the merges and splits of
    the `previous` ones (article id -> its story id in the last run). An article with no
    embedded sentence (all of them in a language that was not translated) is a story of its
    own. `reserved`: ids of other stories, which a new story does not take; `min_cosine`: the
    cosine an undated article's link to a dated one needs to join them (StoriesConfig)."""
    previous = previous or {}
    published = {a.id: parse_published(a.published) for a in articles}
    unreadable = [a for a in articles if a.published.strip() and published[a.id] is None]
    if unreadable:
        log.warning(
            "%d articles give a publication date that could not be read (taken as undated), "
            "e.g. %s: %r", len(unreadable), unreadable[0].id, unreadable[0].published,
        )  # fmt: skip
    order = sorted(articles, key=lambda a: (_sort_date(published[a.id]), a.id))
    number = {a.id: n for n, a in enumerate(order)}
    parent = {a.id: a.id for a in order}

    def root(article: str) -> str:
        while parent[article] != article:
            parent[article] = parent[parent[article]]
            article = parent[article]
        return article

    def join(first: str, second: str) -> None:
        a, b = root(first), root(second)
        if a != b:  # the earlier article is the root: a component's root is its first
            parent[max(a, b, key=number.__getitem__)] = min(a, b, key=number.__getitem__)

    links = [link for link in links if link[0] in number and link[1] in number]
    for first, second, _ in links:
        if (published[first] is None) == (published[second] is None):
            join(first, second)
    # Undated articles cannot be held to the window: each group of them joins the story of
    # its closest dated article only, so it never bridges two stories weeks apart; and only on
    # a link of `min_cosine`, as names shared do not make up for a date that cannot be checked
    # (an undated digest naming two events' places would pull its group into the other).
    closest: dict[str, tuple[float, str]] = {}
    for first, second, cosine in links:
        if (published[first] is None) != (published[second] is None) and cosine >= min_cosine:
            undated, dated = (first, second) if published[first] is None else (second, first)
            group = root(undated)
            if group not in closest or (cosine, dated) > closest[group]:
                closest[group] = (cosine, dated)
    for group, (_, dated) in sorted(closest.items()):
        join(group, dated)

    members: dict[str, list[str]] = defaultdict(list)
    for article in order:  # in order: each component's list is earliest first
        members[root(article.id)].append(article.id)
    ids, changes = _name_stories(list(members.values()), previous, number, reserved)
    by_id = {a.id: a for a in articles}
    stories = [
        _story(ids[n], group, by_id, published, features)
        for n, group in enumerate(members.values())
    ]
    for change in changes:
        log.info("story %s: %s with %s", change.kept, change.kind, ", ".join(change.others))
    return stories, changes


def regroup_stories(
    articles: Sequence[Article],
    features: Mapping[str, ArticleFeatures],
    earlier: Sequence[Story],
    changed: Collection[str],
    new_links: Sequence[tuple[str, str, float]],
    links_of: Callable[[Collection[str]], list[tuple[str, str, float]]],
    min_cosine: float = StoriesConfig.min_cosine,
) -> tuple[list[Story], list[StoryChange], int] | None:
    """The stories of `articles` as group_stories() makes them over every link, found from the
    `earlier` stories (the last run's, over every article then) by regrouping only those that
    the `changed` articles touch: a run that adds one article to 10,000 looks at one story,
    not at every link. Returns the stories, earliest first, their merges and splits, and how
    many stories were grouped anew; None where the earlier stories do not cover every unchanged
    article (a first run, or a registry from before stories were kept): group them all.

    `new_links`: the links of the changed articles (story_links(among=changed)); `links_of`:
    every link with an end in the given articles. A story is regrouped when one of its articles
    changed, left, or is linked to a changed one, and so is the story of any article linked to
    an undated article regrouped: such an article joins its closest dated one, which may now
    be in another story. Every other story stays as it was: no link leaves it (a dated link
    would have joined the two stories, and an undated article's choice of story changes only
    with its own links)."""
    member = {article: story.id for story in earlier for article in story.articles}
    placed = {a.id: a for a in articles if a.id in features}
    if not earlier or not (placed.keys() - set(changed)) <= member.keys():
        return None
    published = {a: parse_published(placed[a].published) for a in placed}
    touched = {*changed, *(member.keys() - placed.keys())}
    touched.update(article for link in new_links for article in link[:2])
    stories = {member[a] for a in touched if a in member}
    affected = {a for a in changed if a in placed}
    looked_at: set[str] = set()  # undated articles whose neighbours' stories are regrouped
    while True:
        affected |= {a for s in earlier if s.id in stories for a in s.articles if a in placed}
        undated = {a for a in affected - looked_at if published[a] is None}
        looked_at |= undated
        neighbours = {article for link in links_of(undated) for article in link[:2]}
        more = {member[a] for a in neighbours if a in member} - stories
        if not more:
            break
        stories |= more
    kept = [story for story in earlier if story.id not in stories]
    links = [link for link in links_of(affected) if link[0] in affected and link[1] in affected]
    regrouped, changes = group_stories(
        [placed[a] for a in sorted(affected)], features, links, member,
        reserved={story.id for story in kept}, min_cosine=min_cosine,
    )  # fmt: skip

    def first(story: Story) -> tuple[datetime, str]:
        return _sort_date(published[story.articles[0]]), story.articles[0]

    return sorted([*kept, *regrouped], key=first), changes, len(regrouped)


def _named(text: str) -> set[str]:
    """What a sentence names: people, places and organisations, and its figures ("#200"), the
    facts that tell one event from another of its kind at the same place."""
    return names(text) | {"#" + figure for figure in figures(text)}


def _sort_date(moment: datetime | None) -> datetime:
    # Undated articles after dated ones: "first" means first published, as far as known.
    return moment or datetime.max.replace(tzinfo=UTC)


def _same_event(
    cosine: np.ndarray,
    shared_figures: np.ndarray,
    shared: np.ndarray,
    named: tuple[np.ndarray, np.ndarray],
    figures: tuple[np.ndarray, np.ndarray],
    config: StoriesConfig,
) -> np.ndarray:
    """The rule of the module docstring for arrays of candidate pairs: their cosine, how many
    figures and names (figures included) they share, and how many each gives (`named`,
    `figures`: both sides). Returns which are one event."""
    fewer_figures = np.minimum(*figures)
    # One kind of event at one place, with other facts: another event.
    other_facts = (fewer_figures >= 2) & (
        shared_figures / np.maximum(fewer_figures, 1) < config.min_shared_figures
    )
    fewer = np.minimum(*named)
    share = shared / np.maximum(fewer, 1)
    by_names = ((fewer >= 2) & (share >= 0.5) & (cosine >= floor_cosine(config))) | (
        (cosine >= config.min_cosine) & (share >= config.min_shared_names)
    )
    # Nothing named on one side: the vectors alone decide.
    return ~other_facts & np.where(fewer == 0, cosine >= config.min_cosine, by_names)


def floor_cosine(config: StoriesConfig) -> float:
    """The lowest cosine at which two articles can be one event."""
    return min(config.min_cosine, config.min_cosine_named)


def _name_stories(
    groups: list[list[str]],
    previous: Mapping[str, str],
    number: Mapping[str, int],
    reserved: Collection[str] = (),
) -> tuple[list[str], list[StoryChange]]:
    """Each group's story id (see the module docstring), and the merges and splits."""
    # (earliest article of earlier story `old` in group n, old, n): the earliest article still
    # here decides which earlier story is older, and which part of a split one keeps its id.
    claims = sorted(
        (min(number[a] for a in group if previous.get(a) == old), old, n)
        for n, group in enumerate(groups)
        for old in {previous[a] for a in group if a in previous}
    )
    ids: dict[int, str] = {}
    for _, old, n in claims:
        if old not in ids.values() and n not in ids:
            ids[n] = old
    kept = set(ids.values())
    taken = kept | set(reserved)
    changes = []
    for n, group in enumerate(groups):
        if n not in ids:
            # An article that left and came back may start a story under the id an earlier
            # story keeps: ids stay unique.
            free = (story_id(a) for a in [*group, *(f"{group[0]}#{k}" for k in range(1, 99))])
            ids[n] = next(i for i in free if i not in taken)
        taken.add(ids[n])
        olds = {previous[a] for a in group if a in previous}
        if merged := sorted(olds - kept):
            changes.append(StoryChange("merge", ids[n], tuple(merged)))
    split_into: dict[str, list[str]] = defaultdict(list)
    for n, group in enumerate(groups):
        for old in {previous[a] for a in group if a in previous} & kept:
            if ids[n] != old:
                split_into[old].append(ids[n])
    changes += [StoryChange("split", old, tuple(sorted(new))) for old, new in split_into.items()]
    return [ids[n] for n in range(len(groups))], changes


def _story(
    story: str,
    group: list[str],
    by_id: Mapping[str, Article],
    published: Mapping[str, datetime | None],
    features: Mapping[str, ArticleFeatures],
) -> Story:
    dated = sorted((published[a], by_id[a].published) for a in group if published[a] is not None)
    central = group[0]
    inside = [a for a in group if features[a].vector is not None]
    if inside:
        block = np.stack([features[a].vector for a in inside])
        central = inside[int(np.argmax((block @ block.T).sum(axis=1)))]
    title = by_id[central].title.strip()
    if not title or features[central].language != "en":
        # No English side at all: its own headline, or first line, in its language.
        lines = [line.strip() for line in by_id[central].text.splitlines() if line.strip()]
        title = features[central].first_english or title or (lines[0] if lines else "")
    return Story(
        story,
        tuple(group),
        title,
        dated[0][1] if dated else "",
        dated[-1][1] if dated else "",
        tuple(sorted({by_id[a].source for a in group})),
        tuple(sorted({features[a].language for a in group})),
    )
