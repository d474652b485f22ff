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
from collections.abc import Mapping

from pipeline.config import BoilerplateConfig
from pipeline.corpus import Corpus
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


def line_keys(text: str, config: BoilerplateConfig) -> list[tuple[str, str]]:
    """The lines a sentence is counted under, (kind, key): ("whole", its words) and, when its
    last `tail_words` words name someone, ("tail", those words); lower case, space-joined."""
    keys = []
    if whole := _whole(text):
        keys.append(("whole", " ".join(whole)))
    if (tail := _tail(text, config.tail_words)) is not None:
        keys.append(("tail", " ".join(tail)))
    return keys


def is_repeated(count: int, articles: int, config: BoilerplateConfig) -> bool:
    """Whether a line that `count` of a source's `articles` articles have is boilerplate."""
    return articles > 0 and count >= config.min_articles and count / articles >= config.min_share


def mark_in_corpus(
    sentences: list[Sentence], sources: Mapping[str, str], corpus: Corpus, config: BoilerplateConfig
) -> tuple[list[Sentence], set[str]]:
    """Boilerplate marks counted over the whole corpus, not only these sentences.

    `sentences` are every sentence of the articles in `sources` (article id -> source; one
    with no sentence left is there too). Their lines replace what the corpus held for them;
    returns the sentences marked, and the other articles whose marks change because a line
    crossed the threshold (counted anew or over a source with more articles): those must be
    marked again. Marks are those counted over all of the corpus's sentences at once.
    """
    lines: dict[str, set[tuple[str, str]]] = {article: set() for article in sources}
    for s in sentences:
        lines[s.article_id] |= {("article", ""), *line_keys(s.text, config)}
    asked: dict[str, set[tuple[str, str]]] = defaultdict(set)  # source -> lines whose count moves
    for article, keys in lines.items():
        asked[sources[article]] |= keys | corpus.lines_of(article)
    before = {source: corpus.line_counts(source, keys) for source, keys in asked.items()}
    corpus.put_lines({article: (sources[article], keys) for article, keys in lines.items()})
    after = {source: corpus.line_counts(source, keys) for source, keys in asked.items()}

    others: set[str] = set()
    for source, counts in after.items():
        size_before = before[source].get(("article", ""), 0)
        size = counts.get(("article", ""), 0)
        flipped = {
            key
            for key, count in counts.items()
            if key[0] != "article"
            and is_repeated(before[source][key], size_before, config)
            != is_repeated(count, size, config)
        }
        if size != size_before:  # lines no article here has: a share of more (or fewer) articles
            low, high = sorted((size_before, size))
            band = corpus.lines_counted_between(
                source, max(1, int(config.min_share * low)), int(config.min_share * high) + 1
            )
            flipped |= {
                key
                for key, count in band.items()
                if key not in counts
                and is_repeated(count, size_before, config) != is_repeated(count, size, config)
            }
        for kind, key in flipped:
            others.update(corpus.articles_with_line(source, kind, key))
    others -= set(sources)
    counts_of = {source: after[source] for source in after}
    marked = [
        dataclasses.replace(s, boilerplate=True)
        if any(
            is_repeated(counts_of[s.source][key], counts_of[s.source][("article", "")], config)
            for key in line_keys(s.text, config)
        )
        else s
        for s in sentences
    ]
    return marked, others
