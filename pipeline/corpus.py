"""The corpus an output folder has seen: every article read into it, so outputs can cover them all.

A scheduled run over an inbox sees only what is in the inbox now; articles that were processed
and then moved away must still be in the corpus-wide outputs. The registry lives in the output
folder it describes (`corpus.sqlite3`), one row per article id holding its latest version.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pipeline.records import Article

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    published TEXT NOT NULL,
    text TEXT NOT NULL
);
"""


class CorpusError(RuntimeError):
    """The registry cannot be read; the message says where it is and what to do."""


@dataclass(frozen=True)
class CorpusChange:
    new: int
    changed: int
    unchanged: int


REGISTRY = "corpus.sqlite3"


class Corpus:
    """Articles seen so far under one output folder, keyed by article id."""

    @staticmethod
    def exists(output_dir: Path) -> bool:
        """Whether `output_dir` holds a registry (opening one creates it)."""
        return (output_dir / REGISTRY).is_file()

    def __init__(self, output_dir: Path):
        output_dir.mkdir(parents=True, exist_ok=True)
        path = output_dir / REGISTRY
        self._db = sqlite3.connect(path)
        try:
            status = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if status != "ok":
                raise sqlite3.DatabaseError(status)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as error:
            self._db.close()
            # Unlike the cache, the registry cannot be rebuilt: it holds articles that have since
            # left the input folder, and a fresh one would silently drop them from the outputs.
            raise CorpusError(
                f"corpus registry {path} is unreadable ({error}); it is not rebuilt "
                "automatically because it holds articles no longer in the input folder: "
                "restore it from a backup, or move it aside to start a new corpus"
            ) from None

    def close(self) -> None:
        """Close the registry; what update() recorded since the last commit() is dropped."""
        self._db.close()

    def commit(self) -> None:
        self._db.commit()

    def update(self, articles: list[Article]) -> CorpusChange:
        """Record `articles` (an id seen before with other content is replaced), uncommitted:
        articles() sees them at once, the file once commit() is called."""
        known = dict(self._db.execute("SELECT id, content_hash FROM articles"))
        new = sum(1 for a in articles if a.id not in known)
        changed = sum(1 for a in articles if a.id in known and known[a.id] != a.content_hash)
        self._db.executemany(
            "INSERT OR REPLACE INTO articles VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (a.id, a.content_hash, a.source, a.title, a.url, a.published, a.text)
                for a in articles
            ],
        )
        return CorpusChange(new=new, changed=changed, unchanged=len(articles) - new - changed)

    def articles(self) -> list[Article]:
        rows = self._db.execute(
            "SELECT id, text, source, title, url, published FROM articles ORDER BY id"
        )
        return [Article(*row) for row in rows]
