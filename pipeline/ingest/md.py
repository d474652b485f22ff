"""Read a Markdown article: front matter as metadata, the body as plain text a block a line."""

from __future__ import annotations

import re

import yaml

from pipeline.ingest.errors import IngestError
from pipeline.records import Article, Reject

METADATA_FIELDS = ("title", "source", "url", "published")
YAML_NULLS = frozenset({"~", "null", "Null", "NULL"})  # read as text by the BaseLoader below

_FRONT_MATTER = re.compile(r"\A---\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$")
_RULE_OR_UNDERLINE = re.compile(r"^(?:(?:[-*_]\s*){3,}|=+)$")
_REFERENCE_DEFINITION = re.compile(r"^\[[^\]]+\]:\s*\S")
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?$")
_BLOCKQUOTE = re.compile(r"^(?:>\s?)+")
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,9}[.)])\s+")

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_IMAGE = re.compile(r"!\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])")
_LINK = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>")
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_EMPHASIS = (
    re.compile(r"(\*{1,3})(?=\S)(.+?)(?<=\S)\1"),
    # Underscores only count at word edges, so snake_case names keep theirs.
    re.compile(r"(?<!\w)(_{1,3})(?=\S)(.+?)(?<=\S)\1(?!\w)"),
    re.compile(r"(~~)(?=\S)(.+?)(?<=\S)\1"),
)
# Escaped punctuation is parked in the Private Use Area while markup is removed, then restored.
_PARKED = 0xF0000


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
    """The body's blocks as plain text a line each: headings, unwrapped paragraphs, items, code."""
    lines: list[str] = []
    paragraph: list[str] = []

    def end_paragraph() -> None:
        if paragraph:
            lines.append(_inline(" ".join(paragraph)))
            paragraph.clear()

    fence = ""
    for raw in _COMMENT.sub("", body).split("\n"):
        if fence:
            if raw.strip().startswith(fence):
                fence = ""
            elif raw.strip():
                lines.append(raw.rstrip())
            continue
        opening = _FENCE.match(raw)
        if opening:
            end_paragraph()
            fence = opening.group(1)
            continue
        line = _BLOCKQUOTE.sub("", raw.strip()).strip()
        heading = _ATX_HEADING.match(line)
        if heading:
            end_paragraph()
            paragraph.append(heading.group(2) or "")
            end_paragraph()
        elif (
            not line
            or _RULE_OR_UNDERLINE.match(line)
            or _REFERENCE_DEFINITION.match(line)
            or _TABLE_SEPARATOR.match(line)
        ):
            end_paragraph()
        elif line.startswith("|"):
            end_paragraph()
            paragraph.append(" ".join(cell.strip() for cell in line.strip("|").split("|")))
            end_paragraph()
        else:
            item = _LIST_ITEM.match(line)
            if item:
                end_paragraph()
                line = line[item.end() :]
            paragraph.append(line)
    end_paragraph()
    return [line for line in lines if line.strip()]


def _inline(text: str) -> str:
    """Plain text of one block: code spans verbatim, link text kept, images and markup dropped."""
    text = _ESCAPE.sub(lambda m: chr(_PARKED + ord(m.group(1))), text)
    pieces = []
    position = 0
    for code in _CODE_SPAN.finditer(text):
        pieces.append(_strip_markup(text[position : code.start()]))
        pieces.append(code.group(2).strip())
        position = code.end()
    pieces.append(_strip_markup(text[position:]))
    plain = "".join(pieces)
    plain = re.sub("[\U000f0000-\U000f007f]", lambda m: chr(ord(m.group()) - _PARKED), plain)
    # Dropped images and tags leave double spaces behind.
    return re.sub(r"[ \t]+", " ", plain).strip()


def _strip_markup(text: str) -> str:
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _TAG.sub("", text)
    previous = None
    # Nested emphasis ("**bold *and italic***") needs more than one pass.
    while previous != text:
        previous = text
        for pattern in _EMPHASIS:
            text = pattern.sub(r"\2", text)
    return text


def _as_text(key: str, value: object) -> str:
    if not isinstance(value, str):  # a list or a mapping
        raise IngestError(f"front matter field '{key}' is not text")
    return "" if value in YAML_NULLS else value.strip()
