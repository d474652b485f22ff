"""Read a Markdown article: front matter as metadata, the body as plain text a block a line."""

from __future__ import annotations

import re

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from pipeline.ingest.errors import IngestError
from pipeline.records import Article, Reject

METADATA_FIELDS = ("title", "source", "url", "published")
YAML_NULLS = frozenset({"~", "null", "Null", "NULL"})  # read as text by the BaseLoader below

_FRONT_MATTER = re.compile(r"\A---\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
# CommonMark, with GFM tables and strikethrough. markdown-it-py parses in linear time (the
# regular expressions it replaces took quadratic time on runs of `*a `, `[a ` or `<a `), and
# decodes entities (`&laquo; &mdash; &nbsp;`).
_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# Inline tokens whose text a reader sees; images (and their alt text) and raw HTML are dropped.
_INLINE_TEXT = frozenset({"text", "code_inline"})
_INLINE_SPACE = frozenset({"softbreak", "hardbreak"})
_SPACES = re.compile(r"\s+")


def read(article_id: str, text: str, source: str) -> list[Article | Reject]:
    """One article: front matter `title`, `source`, `url`, `published` (or `date`), plain body."""
    metadata, body = split_front_matter(text)
    return [
        Article(
            id=article_id,
            text="\n".join(plain_lines(body)),
            source=metadata.get("source") or source,
            title=metadata.get("title", ""),
            url=metadata.get("url", ""),
            published=metadata.get("published") or metadata.get("date", ""),
        )
    ]


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """The front matter's metadata fields as text, and the body after it."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    try:
        # Every scalar as the text it is: no dates or numbers to convert, so `2024-02-30` and a
        # 5,000-digit title are kept as written instead of failing the conversion.
        loaded = yaml.load(match.group(1) or "", Loader=yaml.BaseLoader)
    except yaml.YAMLError as error:
        raise IngestError(f"front matter is not valid YAML: {error}") from error
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise IngestError("front matter is not a YAML mapping")
    metadata = {
        key: _as_text(key, loaded[key]) for key in (*METADATA_FIELDS, "date") if key in loaded
    }
    return metadata, text[match.end() :]


def plain_lines(body: str) -> list[str]:
    """The body's blocks as plain text a line each: headings, paragraphs (unwrapped), list
    items, quotes, a table row a line, code a line each as written; link text kept, images,
    HTML and markup dropped."""
    lines: list[str] = []
    row: list[str] | None = None  # the cells of the table row being read
    for token in _PARSER.parse(body):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            lines.append(" ".join(cell for cell in row if cell))
            row = None
        elif token.type == "inline":
            text = _inline_text(token.children or [])
            (row if row is not None else lines).append(text)
        elif token.type in ("fence", "code_block"):
            lines += [line.rstrip() for line in token.content.split("\n") if line.strip()]
    return [line for line in lines if line]


def _inline_text(children: list[Token]) -> str:
    pieces = []
    for child in children:
        if child.type in _INLINE_TEXT:
            pieces.append(child.content)
        elif child.type in _INLINE_SPACE:
            pieces.append(" ")
    return _SPACES.sub(" ", "".join(pieces)).strip()


def _as_text(key: str, value: object) -> str:
    if not isinstance(value, str):  # a list or a mapping
        raise IngestError(f"front matter field '{key}' is not text")
    return "" if value in YAML_NULLS else value.strip()
