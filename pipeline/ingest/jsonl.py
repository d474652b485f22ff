"""Read a JSON Lines file: one article a line; a bad line rejects that record only."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pipeline.ingest.encoding import normalize_newlines
from pipeline.ingest.errors import IngestError
from pipeline.records import Article, Reject

REQUIRED_FIELDS = ("id", "text")
OPTIONAL_FIELDS = ("title", "source", "url", "published")


def read(path_id: str, text: str, source: str) -> list[Article | Reject]:
    """An article "<path_id>#<record id>" per record; a Reject "<path_id>:<line>" per bad one."""
    results: list[Article | Reject] = []
    seen: dict[str, int] = {}
    # Split on "\n" only: str.splitlines() would also split JSON strings at U+2028 and the like.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            article = _record(path_id, line, source)
        except IngestError as error:
            results.append(Reject(input=f"{path_id}:{number}", reason=str(error)))
            continue
        if article.id in seen:
            results.append(
                Reject(
                    input=f"{path_id}:{number}",
                    reason=(
                        f"duplicate id '{article.id.removeprefix(path_id + '#')}'"
                        f" (first on line {seen[article.id]})"
                    ),
                )
            )
            continue
        seen[article.id] = number
        results.append(article)
    if not results:
        raise IngestError("no records")
    return results


def _epoch_date(seconds: float) -> str:
    """A Unix time, as feeds dumped to JSON give it (seconds, or milliseconds: 13 digits), as
    ISO 8601 UTC. Raises IngestError for one no calendar holds."""
    # Later than the year 5000 in seconds: milliseconds.
    scaled = seconds / 1000 if abs(seconds) >= 1e11 else seconds
    try:
        return datetime.fromtimestamp(scaled, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        raise IngestError(f"field 'published' is no date: {seconds!r}") from None


def _record(path_id: str, line: str, source: str) -> Article:
    try:
        record = json.loads(line)
    # Deeply nested arrays exhaust the decoder's recursion rather than raise a ValueError.
    except (ValueError, RecursionError) as error:
        raise IngestError(f"invalid JSON: {error}") from error
    if not isinstance(record, dict):
        raise IngestError("record is not a JSON object")
    missing = [field for field in REQUIRED_FIELDS if field not in record]
    if missing:
        raise IngestError(f"missing field {', '.join(repr(field) for field in missing)}")
    record_id = record["id"]
    if isinstance(record_id, bool) or not isinstance(record_id, str | int) or str(record_id) == "":
        raise IngestError("field 'id' must be a non-empty string or an integer")
    if not isinstance(record["text"], str):
        raise IngestError("field 'text' must be a string")
    optional = {}
    for field in OPTIONAL_FIELDS:
        value = record.get(field)
        if field == "published" and isinstance(value, int | float) and not isinstance(value, bool):
            value = _epoch_date(value)
        if value is not None and not isinstance(value, str):
            raise IngestError(f"field '{field}' must be a string")
        optional[field] = (value or "").strip()
    return Article(
        id=f"{path_id}#{record_id}",
        text=normalize_newlines(record["text"]),
        source=optional["source"] or source,
        title=optional["title"],
        url=optional["url"],
        published=optional["published"],
    )
