"""The corpus an output folder has seen: every article read into it, and what the last run
learnt of each, so outputs can cover them all and a run re-does only what changed.

A scheduled run over an inbox sees only what is in the inbox now; articles that were processed
and then moved away must still be in the corpus-wide outputs. The registry lives in the output
folder it describes (`corpus.sqlite3`), one row per article id holding its latest version, and
beside it each article's state: the features the stories stage places it by, its sentences'
digest and counts, the lines boilerplate marking counts, and its links to articles of the same
event. A run without accumulate mode keeps the same registry in memory, for that run only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.records import Article
from pipeline.store import INTEGRITY_CHECK_SECONDS
from pipeline.stories import ArticleFeatures, Story

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    published TEXT NOT NULL,
    text TEXT NOT NULL,
    first_seen TEXT NOT NULL DEFAULT ''  -- ISO 8601, UTC: the run that first read it
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,       -- "state_key": what every article_state row was made with
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS article_state (
    id TEXT PRIMARY KEY,        -- dropped whenever the article's row changes
    reject TEXT NOT NULL,       -- why it has no sentences; "" when it has
    language TEXT NOT NULL,
    vector BLOB,                -- float32 mean of its embedded sentences; NULL when none
    named TEXT NOT NULL,        -- JSON list of what it names
    first_english TEXT NOT NULL,
    digest TEXT NOT NULL,       -- sha256 over its sentences as sentences.csv writes them
    stats TEXT NOT NULL         -- JSON: its sentences counted by language, origin, ...
);
CREATE TABLE IF NOT EXISTS lines (
    source TEXT NOT NULL,
    kind TEXT NOT NULL,         -- "whole", "tail" (pipeline/boilerplate.py), "article"
    key TEXT NOT NULL,
    article TEXT NOT NULL,
    PRIMARY KEY (source, kind, key, article)
);
CREATE INDEX IF NOT EXISTS lines_by_article ON lines (article);
CREATE TABLE IF NOT EXISTS story_links (
    first TEXT NOT NULL,
    second TEXT NOT NULL,
    cosine REAL NOT NULL,
    PRIMARY KEY (first, second)
);
CREATE INDEX IF NOT EXISTS story_links_by_second ON story_links (second);
CREATE TABLE IF NOT EXISTS stories (
    id TEXT PRIMARY KEY,        -- the last run's stories, so the next regroups only some
    story TEXT NOT NULL         -- JSON: the Story's fields
);
"""


class CorpusError(RuntimeError):
    """The registry cannot be read; the message says where it is and what to do."""


@dataclass(frozen=True)
class CorpusChange:
    new: int
    changed: int  # a new text under a known id
    unchanged: int


@dataclass(frozen=True)
class ArticleState:
    """What a run learnt of one article (see SCHEMA)."""

    reject: str
    features: ArticleFeatures | None  # None when rejected
    digest: str
    stats: dict[str, dict[str, int]] = field(default_factory=dict)


REGISTRY = "corpus.sqlite3"


class Corpus:
    """Articles seen so far under one output folder (or, with None, in memory), by id."""

    @staticmethod
    def exists(output_dir: Path) -> bool:
        """Whether `output_dir` holds a registry (opening one creates it)."""
        return (output_dir / REGISTRY).is_file()

    def __init__(self, output_dir: Path | None):
        if output_dir is None:
            self._db = sqlite3.connect(":memory:")
            self._db.executescript(SCHEMA)
            return
        output_dir.mkdir(parents=True, exist_ok=True)
        path = output_dir / REGISTRY
        self._db = sqlite3.connect(path)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(articles)")}
            if "first_seen" not in columns:  # a registry from before first_seen: unknown
                self._db.execute(
                    "ALTER TABLE articles ADD COLUMN first_seen TEXT NOT NULL DEFAULT ''"
                )
            self._check_integrity()
        except sqlite3.DatabaseError as error:
            self._db.close()
            # Unlike the cache, the registry cannot be rebuilt: it holds articles that have since
            # left the input folder, and a fresh one would silently drop them from the outputs.
            raise CorpusError(
                f"corpus registry {path} is unreadable ({error}); it is not rebuilt "
                "automatically because it holds articles no longer in the input folder: "
                "restore it from a backup, or move it and the folder's `latest` aside to start "
                "a new corpus"
            ) from None

    def _check_integrity(self) -> None:
        """SQLite's integrity check, once a day (pipeline/store.py says why not every run);
        raises sqlite3.DatabaseError on damage."""
        checked = float(self.meta("integrity_checked") or 0)
        if time.time() - checked < INTEGRITY_CHECK_SECONDS:
            return
        status = self._db.execute("PRAGMA quick_check").fetchone()[0]
        if status != "ok":
            raise sqlite3.DatabaseError(status)
        self.set_meta("integrity_checked", str(time.time()))

    def close(self) -> None:
        """Close the registry; what was recorded since the last commit() is dropped."""
        self._db.close()

    def commit(self) -> None:
        self._db.commit()

    def update(self, articles: list[Article], seen: str = "") -> CorpusChange:
        """Record `articles` (an id seen before with other content is replaced; one not seen
        before is first seen at `seen`, ISO 8601), uncommitted: articles() sees them at once,
        the file once commit() is called. An article whose row changes in any way loses its
        state and links."""
        known = {}
        ids = [a.id for a in articles]
        for start in range(0, len(ids), 500):  # the incoming ones only: a run costs what it brings
            chunk = ids[start : start + 500]
            found = self._db.execute(
                f"SELECT {_COLUMNS} FROM articles WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            known.update((row[0], row[1:]) for row in found)
        rows = [_row(a) for a in articles]
        new = sum(1 for a in articles if a.id not in known)
        changed = sum(1 for a in articles if a.id in known and known[a.id][0] != a.content_hash)
        differs = [(row[0],) for row in rows if known.get(row[0]) != row[1:]]
        self._db.executemany(
            f"INSERT INTO articles ({_COLUMNS}, first_seen) VALUES ({_MARKS}, ?) "
            f"ON CONFLICT(id) DO UPDATE SET {_UPDATES}",
            [(*row, seen) for row in rows],
        )
        self.forget(row[0] for row in differs)
        return CorpusChange(new=new, changed=changed, unchanged=len(articles) - new - changed)

    def articles(self) -> list[Article]:
        rows = self._db.execute(
            "SELECT id, text, source, title, url, published FROM articles ORDER BY id"
        )
        return [Article(*row) for row in rows]

    def first_seen(self) -> dict[str, str]:
        """When each article was first read (ISO 8601, UTC); "" where that is not known."""
        return dict(self._db.execute("SELECT id, first_seen FROM articles"))

    def forget(self, ids: Iterable[str]) -> None:
        """Drop what runs learnt of these articles (state, links): the next run processes
        them anew. Their lines stay until put_lines() replaces them, so that boilerplate
        marking sees which counts change."""
        keys = [(article,) for article in ids]
        self._db.executemany("DELETE FROM article_state WHERE id = ?", keys)
        self.drop_links(ids for (ids,) in keys)

    def drop_links(self, ids: Iterable[str]) -> None:
        """Drop the story links of these articles: they are found anew."""
        keys = [(article,) for article in ids]
        self._db.executemany("DELETE FROM story_links WHERE first = ?", keys)
        self._db.executemany("DELETE FROM story_links WHERE second = ?", keys)

    def use_state_key(self, key: str) -> bool:
        """Keep the state made with `key` (its options, models and code); state made with
        another is dropped. Returns whether the state was kept."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'state_key'").fetchone()
        if row and row[0] == key:
            return True
        for table in ("article_state", "lines", "story_links", "stories"):
            self._db.execute(f"DELETE FROM {table}")
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('state_key', ?)", (key,))
        return False

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def stateless(self) -> list[str]:
        """Ids of the articles no run has learnt about (new, changed, or made with other
        options), in id order."""
        rows = self._db.execute(
            "SELECT id FROM articles WHERE id NOT IN (SELECT id FROM article_state) ORDER BY id"
        )
        return [row[0] for row in rows]

    def put_states(self, states: Mapping[str, ArticleState]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO article_state VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [_state_row(article, state) for article, state in states.items()],
        )

    def states(self) -> dict[str, ArticleState]:
        """Every article's state, by id."""
        rows = self._db.execute(
            "SELECT id, reject, language, vector, named, first_english, digest, stats "
            "FROM article_state"
        )
        states = {}
        for article, reject, language, vector, named, first, digest, stats in rows:
            features = None
            if not reject:
                array = None if vector is None else np.frombuffer(vector, dtype=np.float32)
                features = ArticleFeatures(language, array, frozenset(json.loads(named)), first)
            states[article] = ArticleState(reject, features, digest, json.loads(stats))
        return states

    def put_lines(self, lines: Mapping[str, tuple[str, Iterable[tuple[str, str]]]]) -> None:
        """Replace the lines of these articles: article id -> (source, [(kind, key), ...])."""
        self._db.executemany("DELETE FROM lines WHERE article = ?", [(a,) for a in lines])
        self._db.executemany(
            "INSERT OR IGNORE INTO lines VALUES (?, ?, ?, ?)",
            [
                (source, kind, key, article)
                for article, (source, keys) in lines.items()
                for kind, key in keys
            ],
        )

    def lines_of(self, article: str) -> set[tuple[str, str]]:
        rows = self._db.execute("SELECT kind, key FROM lines WHERE article = ?", (article,))
        return {(kind, key) for kind, key in rows}

    def line_counts(
        self, source: str, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        """How many of `source`'s articles have each of these lines."""
        keys = set(keys)
        if len(keys) > 1000:  # a first run asks for all of them: count them all at once
            every = self.lines_counted_between(source, 1, 1 << 62, articles=True)
            return {key: every.get(key, 0) for key in keys}
        counts = {}
        for kind, key in keys:
            row = self._db.execute(
                "SELECT COUNT(*) FROM lines WHERE source = ? AND kind = ? AND key = ?",
                (source, kind, key),
            ).fetchone()
            counts[kind, key] = row[0]
        return counts

    def lines_counted_between(
        self, source: str, low: int, high: int, articles: bool = False
    ) -> dict[tuple[str, str], int]:
        """`source`'s lines that `low` to `high` of its articles have, with their counts (and
        with `articles`, the ("article", "") line that counts the articles themselves)."""
        rows = self._db.execute(
            "SELECT kind, key, COUNT(*) FROM lines WHERE source = ? AND (? OR kind != 'article') "
            "GROUP BY kind, key HAVING COUNT(*) BETWEEN ? AND ?",
            (source, articles, low, high),
        )
        return {(kind, key): count for kind, key, count in rows}

    def articles_with_line(self, source: str, kind: str, key: str) -> list[str]:
        rows = self._db.execute(
            "SELECT article FROM lines WHERE source = ? AND kind = ? AND key = ?",
            (source, kind, key),
        )
        return [row[0] for row in rows]

    def put_links(self, links: Iterable[tuple[str, str, float]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO story_links VALUES (?, ?, ?)", links)

    def links(self) -> list[tuple[str, str, float]]:
        return list(self._db.execute("SELECT first, second, cosine FROM story_links"))

    def links_of(self, articles: Iterable[str]) -> list[tuple[str, str, float]]:
        """Every link with an end in `articles`, once each, sorted."""
        found = set()
        for article in articles:
            for column in ("first", "second"):  # each has an index
                found.update(
                    self._db.execute(
                        f"SELECT first, second, cosine FROM story_links WHERE {column} = ?",
                        (article,),
                    )
                )
        return sorted(found)

    def put_stories(self, stories: Iterable[Story], dropped: Iterable[str] | None = None) -> None:
        """Keep `stories`, in place of the `dropped` ones (None: of every story kept)."""
        if dropped is None:
            self._db.execute("DELETE FROM stories")
        else:
            self._db.executemany("DELETE FROM stories WHERE id = ?", [(i,) for i in dropped])
        self._db.executemany(
            "INSERT OR REPLACE INTO stories VALUES (?, ?)",
            [(story.id, json.dumps(dataclasses.asdict(story))) for story in stories],
        )

    def stories(self) -> list[Story]:
        """The stories kept by put_stories, in no particular order; none (so that every story
        is grouped anew) where a row cannot be read back as a Story."""
        rows = self._db.execute("SELECT story FROM stories")
        try:
            return [Story(**{k: _tuples(v) for k, v in json.loads(row).items()}) for (row,) in rows]
        except (ValueError, TypeError, AttributeError) as error:  # not JSON, not a Story's
            log.warning(
                "the registry's stories cannot be read (%s): every story is grouped anew", error
            )
            return []


_COLUMNS = "id, content_hash, source, title, url, published, text"
_MARKS = ", ".join("?" * 7)
_UPDATES = ", ".join(f"{column} = excluded.{column}" for column in _COLUMNS.split(", ")[1:])


def _tuples(field: Any) -> Any:
    """A Story field as JSON gave it back: its lists as the tuples it holds."""
    return tuple(field) if isinstance(field, list) else field


def _row(article: Article) -> tuple:
    return (
        article.id, article.content_hash, article.source, article.title, article.url,
        article.published, article.text,
    )  # fmt: skip


def _state_row(article: str, state: ArticleState) -> tuple:
    features = state.features
    vector = None
    if features is not None and features.vector is not None:
        vector = np.asarray(features.vector, dtype=np.float32).tobytes()
    return (
        article,
        state.reject,
        features.language if features else "",
        vector,
        json.dumps(sorted(features.named) if features else [], ensure_ascii=False),
        features.first_english if features else "",
        state.digest,
        json.dumps(state.stats, sort_keys=True),
    )
