"""The persistent cache: translations, segments, links and embeddings keyed by content and
model, and what `parallax collect` fetched (per URL, and each raw page by its content hash):
one SQLite file."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import sqlite3
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    model_key TEXT NOT NULL,    -- package id, version and decoding options
    source_hash TEXT NOT NULL,  -- sha256 of the whitespace-normalised source sentence
    english TEXT NOT NULL,
    PRIMARY KEY (model_key, source_hash)
);
CREATE TABLE IF NOT EXISTS segments (
    options_key TEXT NOT NULL,  -- segmentation mode, languages, a digest of the rules' code
    content_hash TEXT NOT NULL, -- sha256 of the article text
    sentences TEXT NOT NULL,    -- JSON list of [sentence, lang]
    PRIMARY KEY (options_key, content_hash)
);
CREATE TABLE IF NOT EXISTS links (
    options_key TEXT NOT NULL,  -- align options and the embedding model
    pair_hash TEXT NOT NULL,    -- sha256 of both articles' English sentences, in order
    links TEXT NOT NULL,        -- JSON [[row_a, row_b, cosine, margin, method, only_a, only_b]]
    PRIMARY KEY (options_key, pair_hash)
);
CREATE TABLE IF NOT EXISTS fetch_state (
    source TEXT NOT NULL,       -- the source that listed it: each source collects its own URLs
    url TEXT NOT NULL,          -- as found in a feed, sitemap or URL list (or a feed's own URL)
    canonical_url TEXT NOT NULL,
    status TEXT NOT NULL,       -- "ok", "duplicate", "failed: <why>" or "retry: <why>"
    etag TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    content_hash TEXT NOT NULL, -- sha256 of the page's bytes; "" when none was read
    first_seen TEXT NOT NULL,   -- ISO 8601, UTC
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (source, url)
);
CREATE TABLE IF NOT EXISTS pages (
    content_hash TEXT PRIMARY KEY,
    page BLOB NOT NULL          -- the raw bytes as served, zlib-compressed
);
CREATE TABLE IF NOT EXISTS embeddings (
    model_key TEXT NOT NULL,    -- model id and a fingerprint of its weights
    text_hash TEXT NOT NULL,    -- sha256 of the English text
    vector BLOB NOT NULL,       -- float32, normalised
    PRIMARY KEY (model_key, text_hash)
);
CREATE TABLE IF NOT EXISTS integrity_checked (
    at REAL NOT NULL            -- Unix time of the last integrity check that found no damage
);
"""
# The integrity check reads every page: seconds a run for a cache of 10,000 articles' work, so
# it runs once a day. Opening the file in between finds one that is not a database at all.
INTEGRITY_CHECK_SECONDS = 24 * 3600


@functools.lru_cache(maxsize=16)
def _file_digest(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def file_fingerprint(path: Path) -> str:
    """sha256 of a model file, computed once per file version (size and mtime)."""
    info = path.stat()
    return _file_digest(path, info.st_size, info.st_mtime_ns)


# The column that scopes a key: the model or the options that produced the value.
SCOPE_COLUMN = {
    "translations": "model_key",
    "embeddings": "model_key",
    "segments": "options_key",
    "links": "options_key",
}

# SQLite caps the number of bound parameters per statement; look keys up in chunks below it.
_LOOKUP_CHUNK = 500
# What SQLite says of a damaged file. Anything else (a full disk, an I/O error, no permission)
# is the machine's fault, not the file's: the cache is then left alone.
CORRUPTION = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


@dataclass(frozen=True)
class Fetch:
    """What fetching one URL for one source gave, as the fetch_state table keeps it."""

    source: str
    url: str
    canonical_url: str
    status: str  # "ok", "duplicate" (another URL's text), "failed: <why>", "retry: <why>"
    etag: str
    last_modified: str
    content_hash: str
    first_seen: str
    fetched_at: str


class StoreError(OSError):
    """The cache cannot be opened or written for a reason other than damage; it was left as it
    is. The message is one line for the user."""


class Store:
    """Translations and embeddings cached under `cache_dir/cache.sqlite3`.

    A file that SQLite cannot read is moved aside (with a warning) and a fresh one started:
    a cache can always be rebuilt, a run that stops on it cannot.
    """

    def __init__(self, cache_dir: Path):
        # Owner-only where it is made: the cache holds every article's sentences.
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = cache_dir / "cache.sqlite3"
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = None
        try:
            db = self._connect()
            checked = db.execute("SELECT max(at) FROM integrity_checked").fetchone()[0] or 0.0
            if time.time() - checked < INTEGRITY_CHECK_SECONDS:
                return db
            status = db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as error:
            if error.sqlite_errorname not in CORRUPTION:
                raise StoreError(
                    f"cache {self.path} cannot be opened ({error}); it is left as it is"
                ) from None
            status = str(error)
        if status == "ok":
            with db:
                db.execute("DELETE FROM integrity_checked")
                db.execute("INSERT INTO integrity_checked VALUES (?)", (time.time(),))
            return db
        if db is not None:
            db.close()
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        log.warning(
            "cache %s is unreadable (%s); moved to %s and rebuilt", self.path, status, aside
        )
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                part.rename(Path(f"{aside}{suffix}"))
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path)
        # WAL keeps the cache consistent if the process is killed mid-write.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        return db

    def close(self) -> None:
        self._db.close()

    def get_translations(self, model_key: str, source_hashes: Iterable[str]) -> dict[str, str]:
        return dict(
            self._lookup("translations", "english", "source_hash", model_key, source_hashes)
        )

    def put_translations(self, model_key: str, items: Iterable[tuple[str, str]]) -> None:
        """Store (source_hash, english) pairs in one transaction."""
        self._put("translations", [(model_key, key, english) for key, english in items])

    def get_segments(
        self, options_key: str, content_hashes: Iterable[str]
    ) -> dict[str, list[tuple[str, str]]]:
        rows = self._lookup("segments", "sentences", "content_hash", options_key, content_hashes)
        return {key: [tuple(pair) for pair in json.loads(value)] for key, value in rows}

    def put_segments(
        self, options_key: str, items: Iterable[tuple[str, list[tuple[str, str]]]]
    ) -> None:
        """Store (content_hash, [(sentence, lang), ...]) per article in one transaction."""
        self._put(
            "segments",
            [(options_key, key, json.dumps(pairs, ensure_ascii=False)) for key, pairs in items],
        )

    def get_links(self, options_key: str, pair_hashes: Iterable[str]) -> dict[str, list]:
        rows = self._lookup("links", "links", "pair_hash", options_key, pair_hashes)
        return {key: json.loads(value) for key, value in rows}

    def put_links(self, options_key: str, items: Iterable[tuple[str, list]]) -> None:
        """Store (pair_hash, links) per article pair in one transaction."""
        self._put("links", [(options_key, key, json.dumps(links)) for key, links in items])

    def get_embeddings(self, model_key: str, text_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        rows = self._lookup("embeddings", "vector", "text_hash", model_key, text_hashes)
        return {key: np.frombuffer(blob, dtype=np.float32) for key, blob in rows}

    def put_embeddings(self, model_key: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store (text_hash, vector) pairs in one transaction."""
        self._put(
            "embeddings",
            [
                (model_key, key, np.asarray(vector, dtype=np.float32).tobytes())
                for key, vector in items
            ],
        )

    def get_fetch(self, source: str, url: str) -> Fetch | None:
        row = self._db.execute(
            "SELECT source, url, canonical_url, status, etag, last_modified, content_hash, "
            "first_seen, fetched_at FROM fetch_state WHERE source = ? AND url = ?",
            (source, url),
        ).fetchone()
        return Fetch(*row) if row else None

    def put_fetch(self, fetch: Fetch) -> None:
        """Record what fetching one URL gave (its first_seen is kept from the first record)."""
        self._write(
            "INSERT INTO fetch_state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(source, url) DO "
            "UPDATE SET canonical_url=excluded.canonical_url, status=excluded.status, "
            "etag=excluded.etag, last_modified=excluded.last_modified, "
            "content_hash=excluded.content_hash, fetched_at=excluded.fetched_at",
            [dataclasses.astuple(fetch)],
        )

    def put_page(self, content_hash: str, page: bytes) -> None:
        """Keep a raw page (compressed), so a better extractor can read it again unfetched."""
        compressed = zlib.compress(page)
        self._write("INSERT OR IGNORE INTO pages VALUES (?, ?)", [(content_hash, compressed)])

    def get_page(self, content_hash: str) -> bytes | None:
        row = self._db.execute(
            "SELECT page FROM pages WHERE content_hash = ?", (content_hash,)
        ).fetchone()
        return zlib.decompress(row[0]) if row else None

    def _put(self, table: str, rows: list[tuple]) -> None:
        """Insert or replace `rows` (three columns) in one transaction."""
        self._write(f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)", rows)

    def _write(self, statement: str, rows: list[tuple]) -> None:
        """Run `statement` over `rows` in one transaction; a write the machine refuses (disk
        full, I/O error) raises StoreError and leaves the cache as it was."""
        try:
            with self._db:
                self._db.executemany(statement, rows)
        except sqlite3.OperationalError as error:
            raise StoreError(
                f"cache {self.path} cannot be written ({error}); it is left as it is"
            ) from None

    def _lookup(
        self, table: str, column: str, key_column: str, scope: str, keys: Iterable[str]
    ) -> list[tuple[str, object]]:
        keys = list(dict.fromkeys(keys))
        found: list[tuple[str, object]] = []
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            found += self._db.execute(
                f"SELECT {key_column}, {column} FROM {table} "
                f"WHERE {SCOPE_COLUMN[table]} = ? AND {key_column} IN ({marks})",
                [scope, *chunk],
            ).fetchall()
        return found
