"""Read an HTML page: its visible text, one block a line, and its <title>.

Parsed by libxml2's HTML parser (lxml) in linear time, whatever the markup: the standard
library's parser took quadratic time on unclosed constructs (`<div <div ...`, `<!--` repeated)
and raised on some (`<![ x`). The parser calls the _VisibleText target as it reads.
"""

from __future__ import annotations

import re
from collections import Counter

from lxml import etree

from pipeline.records import Article, Reject

# Elements whose content a reader never sees. <body> closes <head> too: pages often omit </head>.
INVISIBLE = frozenset({"head", "script", "style", "noscript", "template", "svg", "math"})
# Elements that start a new line, so paragraphs, list items and headings stay separate lines.
BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
        "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
        "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
CELLS = frozenset({"td", "th"})
PUBLISHED_META = frozenset({"article:published_time", "datepublished", "pubdate"})

_SPACES = re.compile(r"[^\S\n]+")


def read(article_id: str, text: str, source: str) -> list[Article | Reject]:
    """One article: visible text, <title>, and canonical URL and published time when stated."""
    page = _VisibleText()
    if text.strip():  # libxml2 refuses an empty document; an empty article is rejected later
        parser = etree.HTMLParser(
            target=page, no_network=True, remove_comments=True, huge_tree=True
        )
        parser.feed(text)
        parser.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(page.pieces).split("\n"))
    return [
        Article(
            id=article_id,
            text="\n".join(line for line in lines if line),
            source=source,
            title=" ".join("".join(page.title).split()),
            url=page.url,
            published=page.published,
        )
    ]


class _VisibleText:
    """A parser target (lxml's start/end/data/close interface) that keeps what a reader sees."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.title: list[str] = []
        self.url = ""
        self.published = ""
        self._open_invisible: Counter[str] = Counter()
        self._in_title = False
        self._title_done = False
        self._in_pre = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        attributes = {name.lower(): value or "" for name, value in attrib.items()}
        if tag == "body":
            self._open_invisible["head"] = 0
        elif tag in INVISIBLE:
            self._open_invisible[tag] += 1
        elif tag == "title" and self._only_head_open() and not self._title_done:
            self._in_title = True
        elif tag == "link" and "canonical" in attributes.get("rel", "").lower().split():
            self.url = self.url or attributes.get("href", "").strip()
        elif tag == "meta":
            self._read_meta(attributes)
        elif tag == "pre":
            self._in_pre += 1
        self._break(tag)

    def end(self, tag: str) -> None:
        if tag in INVISIBLE:
            self._open_invisible[tag] = max(0, self._open_invisible[tag] - 1)
        elif tag == "title" and self._in_title:
            self._in_title = False
            self._title_done = True
        elif tag == "pre":
            self._in_pre = max(0, self._in_pre - 1)
        self._break(tag)

    def data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not any(self._open_invisible.values()):
            # Outside <pre>, a newline in the source is only a space on the page.
            self.pieces.append(data if self._in_pre else data.replace("\n", " "))

    def close(self) -> None:
        return None

    def _break(self, tag: str) -> None:
        if tag in BLOCKS:
            self.pieces.append("\n")
        elif tag in CELLS:
            self.pieces.append(" ")

    def _only_head_open(self) -> bool:
        return all(count == 0 for tag, count in self._open_invisible.items() if tag != "head")

    def _read_meta(self, attributes: dict[str, str]) -> None:
        key = (
            attributes.get("property") or attributes.get("name") or attributes.get("itemprop") or ""
        )
        content = attributes.get("content", "").strip()
        if key.lower() == "og:url":
            self.url = self.url or content
        elif key.lower() in PUBLISHED_META:
            self.published = self.published or content
