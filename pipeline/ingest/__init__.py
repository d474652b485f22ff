"""Walk the input directory and turn each supported file into Articles, or a Reject saying why."""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.ingest import html, jsonl, md, txt
from pipeline.ingest.encoding import decode
from pipeline.ingest.errors import IngestError
from pipeline.records import Article, Reject

__all__ = ["MAX_ARTICLE_CHARS", "SUPPORTED_SUFFIXES", "IngestError", "read_corpus"]

log = logging.getLogger(__name__)

# Every reader takes (article id, decoded text, default source) and returns its records.
Reader = Callable[[str, str, str], list[Article | Reject]]

READERS: dict[str, Reader] = {
    ".txt": txt.read,
    ".md": md.read,
    ".html": html.read,
    ".htm": html.read,
    ".jsonl": jsonl.read,
}
SUPPORTED_SUFFIXES = tuple(READERS)
# One article longer than this (about 150,000 words; a long news feature has under 100,000
# characters) is a dump or a broken scrape, not a news article: it is rejected rather than
# read into tens of thousands of sentences that would hold up a scheduled run for hours.
MAX_ARTICLE_CHARS = 1_000_000
# A page's markup is stripped before its article's characters count, so a page may hold this
# many times MAX_ARTICLE_CHARS (news pages hold 10 to 50 characters of markup per character of
# text); a longer one is refused before it is parsed, not after.
MARKUP_ALLOWANCE = {".html": 50, ".htm": 50, ".md": 2}


def read_corpus(
    input_dir: Path,
    max_file_bytes: int = 100 * 1024 * 1024,
    max_article_chars: int = MAX_ARTICLE_CHARS,
) -> Iterator[Article | Reject]:
    """Yield the records of every file under input_dir, file by file in sorted path order.

    Hidden files and folders are skipped. A file that cannot be read becomes a Reject and the
    walk goes on; so do a link out of input_dir, a second way to a file or folder already read,
    an empty article and one over `max_article_chars`.
    """
    root = Path(input_dir).resolve(strict=True)
    if not root.is_dir():
        raise NotADirectoryError(f"input is not a directory: {input_dir}")
    limits = _Limits(max_file_bytes, max_article_chars)
    for record in _walk(root, root, PurePosixPath(), {root: "."}, limits):
        yield _valid_unicode(record)


# A lone surrogate: what a file name that is not UTF-8 becomes in Python, and what a JSON
# "\ud800" escape decodes to. Neither can be encoded, so each becomes U+FFFD, like a bad byte.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_unicode(record: Article | Reject) -> Article | Reject:
    """`record` with every lone surrogate in its text fields replaced by U+FFFD."""
    fields = {
        name: _SURROGATE.sub("\ufffd", value)
        for name, value in dataclasses.asdict(record).items()
        if isinstance(value, str) and _SURROGATE.search(value)
    }
    return dataclasses.replace(record, **fields) if fields else record


@dataclass(frozen=True)
class _Limits:
    file_bytes: int
    article_chars: int


def default_source(article_id: str) -> str:
    """The outlet a file belongs to: its first folder under the input dir, else its own stem."""
    parts = PurePosixPath(article_id).parts
    return parts[0] if len(parts) > 1 else PurePosixPath(article_id).stem


def _walk(
    root: Path,
    directory: Path,
    relative: PurePosixPath,
    seen: dict[Path, str],
    limits: _Limits,
) -> Iterator[Article | Reject]:
    try:
        with os.scandir(directory) as listing:
            names = sorted(entry.name for entry in listing if not entry.name.startswith("."))
    except OSError as error:
        yield Reject(input=str(relative), reason=f"cannot list directory: {error.strerror}")
        return
    for name in names:
        path = directory / name
        entry_id = (relative / name).as_posix()
        try:
            target = path.resolve()
        # Python raises RuntimeError for a symlink loop before 3.13, OSError from then on.
        except (OSError, RuntimeError):
            yield Reject(input=entry_id, reason="symbolic link loop")
            continue
        if not target.is_relative_to(root):
            yield Reject(input=entry_id, reason="symbolic link points outside the input directory")
            continue
        if not target.exists():
            yield Reject(input=entry_id, reason="broken symbolic link")
            continue
        if target in seen:
            kind = "folder" if target.is_dir() else "file"
            yield Reject(input=entry_id, reason=f"same {kind} as '{seen[target]}', already read")
            continue
        seen[target] = entry_id
        if target.is_dir():
            yield from _walk(root, path, relative / name, seen, limits)
        else:
            yield from _read_file(root, target, entry_id, limits)


def _read_file(
    root: Path, target: Path, article_id: str, limits: _Limits
) -> list[Article | Reject]:
    """Read the resolved file `target`. It is opened once, without following a link, and what
    was opened is checked again to be a regular file under `root`: a path swapped for a link
    between the walk's check and this read cannot make it read a file outside the input."""
    suffix = target.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        shown = f"'{suffix}'" if suffix else "(no suffix)"
        return [Reject(input=article_id, reason=f"unsupported file type {shown}")]
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return [Reject(input=article_id, reason="changed into a symbolic link while read")]
        return [Reject(input=article_id, reason=f"cannot read file: {error.strerror or error}")]
    try:
        with open(fd, "rb") as file:
            opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
            if not opened.is_relative_to(root):
                return [
                    Reject(
                        input=article_id, reason="symbolic link points outside the input directory"
                    )
                ]
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return [Reject(input=article_id, reason="not a regular file")]
            if info.st_size > limits.file_bytes:
                return [
                    Reject(input=article_id, reason=_too_large(info.st_size, limits.file_bytes))
                ]
            # Read one byte past the limit, in case the file grew since fstat().
            data = file.read(limits.file_bytes + 1)
        if len(data) > limits.file_bytes:
            return [Reject(input=article_id, reason=_too_large(len(data), limits.file_bytes))]
        text = decode(data)
        allowance = MARKUP_ALLOWANCE.get(suffix)
        if allowance and len(text) > allowance * limits.article_chars:
            return [Reject(input=article_id, reason=_unparsed(len(text), allowance, limits))]
        records = reader(article_id, text, default_source(article_id))
    except IngestError as error:
        return [Reject(input=article_id, reason=str(error))]
    except OSError as error:
        return [Reject(input=article_id, reason=f"cannot read file: {error.strerror or error}")]
    except Exception as error:  # a reader's bug or a parser's limit costs this file, not the run
        reason = f"unreadable {suffix[1:]}: {error!r:.200}"
        log.warning("%s rejected: %s", article_id, reason)
        return [Reject(input=article_id, reason=reason)]
    return [_check_article(record, limits) for record in records]


def _check_article(record: Article | Reject, limits: _Limits) -> Article | Reject:
    if not isinstance(record, Article):
        return record
    if not record.text.strip():
        return Reject(input=record.id, reason="empty article")
    if len(record.text) > limits.article_chars:
        return Reject(
            input=record.id,
            reason=(
                f"article is {len(record.text)} characters, over the limit of "
                f"{limits.article_chars} characters for one article"
            ),
        )
    return record


def _unparsed(chars: int, allowance: int, limits: _Limits) -> str:
    return (
        f"page is {chars} characters, over {allowance} times the limit of "
        f"{limits.article_chars} characters for one article; not parsed"
    )


def _too_large(size: int, limit: int) -> str:
    return f"file is {size} bytes, over the limit of {limit} bytes"
