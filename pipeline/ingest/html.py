"""Read an HTML page as a reader would: its main text, title, URL and publication date.

The main text (the article, without menus, footers, related-article lists, cookie notes and
comments) is found by trafilatura (Barbaresi 2021, "Trafilatura: A Web Scraping Library and
Command-Line Tool for Text Discovery and Extraction", ACL demos), favouring precision, with
comments left out: on the 150 real pages of ../shared/corpus/web-pages that keeps every
must-keep snippet and no must-drop snippet on 102 pages, trafilatura's defaults 95, the page's
whole visible text 1 (python -m benchmarks.extraction). Where trafilatura finds no main text
(a bare fragment, a page of one block), the page's visible text is kept, one block a line.

Hidden elements are removed first, whichever way they are hidden (`hidden`, `aria-hidden`,
`display:none` or `visibility:hidden` styles, visually-hidden classes and clip styles,
<noscript>, <template>): neither extractor sees them. Pages are parsed by libxml2's HTML
parser (lxml) in linear time, whatever the markup.
"""

from __future__ import annotations

import copy
import re

import lxml.html
import trafilatura
from lxml import etree

from pipeline.records import Article, Reject

# Elements whose content a reader never sees.
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
# Class names that hide an element in the common CSS frameworks (Bootstrap, WordPress, ...).
HIDING_CLASSES = frozenset(
    """hidden d-none sr-only visually-hidden visuallyhidden screen-reader-text
    screen-reader-only element-invisible offscreen""".split()
)

_SPACES = re.compile(r"[^\S\n]+")
_HIDING_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|clip\s*:\s*rect\(\s*0|clip-path\s*:\s*inset\(\s*50%",
    re.IGNORECASE,
)


def read(article_id: str, text: str, source: str) -> list[Article | Reject]:
    """One article: the page's main text (visible text where trafilatura finds none), its
    title, canonical URL and publication date when the page states them."""
    root = parse(text)
    if root is None:  # an empty article is rejected later, with the reason
        return [Article(id=article_id, text="", source=source)]
    title, url, published = _stated_metadata(root)
    remove_hidden(root)
    main = trafilatura.bare_extraction(
        copy.deepcopy(root),  # trafilatura prunes the tree it is given
        url=url or None,
        favor_precision=True,
        include_comments=False,
        with_metadata=True,
        # Dates the markup states (meta tags, <time>, structured data); the extensive search
        # guesses from free text, and made "© 2024 River Gazette" a publication date.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    body = _lines(main.text if main is not None and main.text else visible_text(root))
    if main is not None:
        title = main.title or title
        published = published or main.date or ""
        url = url or main.url or ""
    return [
        Article(
            id=article_id,
            text=body,
            source=source,
            title=" ".join((title or "").split()),
            url=url,
            published=published,
        )
    ]


def parse(text: str) -> lxml.html.HtmlElement | None:
    """The page's element tree, or None when it holds no element (empty, only comments).
    Fed to the parser rather than parsed from a string: lxml refuses a str that opens with an
    XML declaration naming an encoding (`<?xml version="1.0" encoding="utf-8"?>`)."""
    parser = lxml.html.HTMLParser(remove_comments=True, huge_tree=True, no_network=True)
    parser.feed(text)
    return parser.close()


def remove_hidden(root: etree._Element) -> None:
    """Remove, in place, every element a reader does not see (see the module docstring); the
    text that follows an element (its tail) stays."""
    hidden = [
        element
        for element in root.iter(etree.Element)
        if element.tag in ("noscript", "template")
        or element.get("hidden") is not None
        or (element.get("aria-hidden") or "").strip().lower() == "true"
        or _HIDING_STYLE.search(element.get("style") or "")
        or HIDING_CLASSES & set((element.get("class") or "").split())
    ]
    for element in hidden:
        if element.getparent() is not None:
            element.drop_tree()


def visible_text(root: etree._Element) -> str:
    """The page's visible text, a line per block (paragraph, list item, heading, table row),
    walked without recursion so deeply nested markup costs linear time."""
    pieces: list[str] = []
    invisible = 0
    in_pre = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in INVISIBLE:
                invisible += 1
            elif tag == "pre":
                in_pre += 1
            _break(pieces, tag)
            if not invisible and element.text:
                pieces.append(_flow(element.text, in_pre))
        else:
            if tag in INVISIBLE:
                invisible -= 1
            elif tag == "pre":
                in_pre -= 1
            _break(pieces, tag)
            if not invisible and element.tail:
                pieces.append(_flow(element.tail, in_pre))
    return "".join(pieces)


def _flow(text: str, in_pre: int) -> str:
    # Outside <pre>, a newline in the source is only a space on the page.
    return text if in_pre else text.replace("\n", " ")


def _break(pieces: list[str], tag: str) -> None:
    if tag in BLOCKS:
        pieces.append("\n")
    elif tag in CELLS:
        pieces.append(" ")


def _lines(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _stated_metadata(root: etree._Element) -> tuple[str, str, str]:
    """The <title>, the canonical URL (link rel=canonical, og:url) and the publication time
    (article:published_time, datePublished, pubdate) as the page states them."""
    title = root.findtext(".//title") or ""
    url = published = ""
    for element in root.iter("link", "meta"):
        attributes = {name.lower(): value or "" for name, value in element.attrib.items()}
        if element.tag == "link" and "canonical" in attributes.get("rel", "").lower().split():
            url = url or attributes.get("href", "").strip()
            continue
        key = (
            attributes.get("property") or attributes.get("name") or attributes.get("itemprop") or ""
        ).lower()
        content = attributes.get("content", "").strip()
        if key == "og:url":
            url = url or content
        elif key in PUBLISHED_META:
            published = published or content
    return title, url, published
