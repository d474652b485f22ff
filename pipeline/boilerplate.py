"""Cross-page boilerplate: the sentences a source prints on many of its articles.

A per-page extractor (trafilatura, pipeline/ingest/html.py) sees one page at a time; an
outlet's sign-off ("..., Censor.NET reports with reference to Ukrinform."), its "Read also"
lines, subscription prompts and photo credits show as boilerplate only across its pages.
Within one source, two kinds are marked:
- a sentence that recurs word for word (letters and digits compared; case, punctuation and
  spacing aside) in at least `min_articles` of the source's articles, and in at least
  `min_share` of them;
- a sentence whose last `tail_words` words end sentences in as many of its articles, when
  those words name someone (a capitalised word): the outlet's or agency's sign-off, whatever
  the sentence before it says. "..., the defence ministry said." names no one, and is kept.
Marked sentences stay in sentences.csv (column `boilerplate`) with their English side, and are
neither embedded, aligned, grouped nor counted unique. No library does this over a run's
sentences, hence this module.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict

from pipeline.config import BoilerplateConfig
from pipeline.records import Sentence

_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _whole(text: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _words(text))


def _tail(text: str, size: int) -> tuple[str, ...] | None:
    """The last `size` words, when the sentence is longer and they hold a capitalised word."""
    words = _words(text)
    if len(words) <= size:
        return None
    tail = words[-size:]
    if not any(word[0].isupper() for word in tail):
        return None
    return tuple(word.lower() for word in tail)


def mark_boilerplate(sentences: list[Sentence], config: BoilerplateConfig) -> list[Sentence]:
    """`sentences` with `boilerplate` set on those their source repeats (see the module
    docstring); order and everything else unchanged."""
    articles_of_source: dict[str, set[str]] = defaultdict(set)
    seen_in: dict[tuple[str, str, tuple[str, ...]], set[str]] = defaultdict(set)
    for s in sentences:
        articles_of_source[s.source].add(s.article_id)
        seen_in[(s.source, "whole", _whole(s.text))].add(s.article_id)
        if (tail := _tail(s.text, config.tail_words)) is not None:
            seen_in[(s.source, "tail", tail)].add(s.article_id)

    def repeated(source: str, kind: str, key: tuple[str, ...] | None) -> bool:
        if key is None or not key:
            return False
        count = len(seen_in.get((source, kind, key), ()))
        share = count / len(articles_of_source[source])
        return count >= config.min_articles and share >= config.min_share

    return [
        dataclasses.replace(s, boilerplate=True)
        if repeated(s.source, "whole", _whole(s.text))
        or repeated(s.source, "tail", _tail(s.text, config.tail_words))
        else s
        for s in sentences
    ]
