"""Small frozen records that the stages hand to one another."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

ORIGINS = ("original", "tm", "mt", "skipped")
# Between the divergent spans of one side. A span is a run of words and never holds "|".
SPAN_SEPARATOR = " | "


def text_hash(text: str) -> str:
    """Content key used by every cache: sha256 of the UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Article:
    """One news article as read from the input directory."""

    id: str  # path relative to the input dir; JSONL records add "#<record id>"
    text: str
    # The outlet: JSONL `source`, else the first folder under the input dir, else the file stem.
    source: str
    title: str = ""
    url: str = ""
    published: str = ""

    @property
    def content_hash(self) -> str:
        return text_hash(self.text)


@dataclass(frozen=True)
class Reject:
    """An input that was not processed, and why."""

    input: str
    reason: str


@dataclass(frozen=True)
class Sentence:
    """One sentence of one article, filled in stage by stage."""

    article_id: str
    source: str
    position: int  # 0-based index of the sentence within its article
    text: str
    lang: str = ""
    english: str = ""
    english_origin: str = ""  # one of ORIGINS once translated
    # Repeated by its source across its articles (a sign-off, "Read also": pipeline/
    # boilerplate.py): kept in sentences.csv, not aligned, not counted unique.
    boilerplate: bool = False


@dataclass(frozen=True)
class Alignment:
    """Two sentences of different articles that carry the same statement."""

    a: Sentence
    b: Sentence
    cosine: float
    margin: float
    method: str = "mutual"  # mutual (best both ways), merge (one-to-many), monotonic (translation)
    # Runs of words of a's English side with no counterpart in b's, joined by SPAN_SEPARATOR:
    # one string, as the CSV shows it and the link cache keeps it (a rerun reads 300,000 links
    # back at 1,000 articles; a tuple of words each would make it millions of objects).
    only_in_a: str = ""
    only_in_b: str = ""
    # "same", or "disagrees": the same topic and names with other figures or the opposite
    # polarity (pipeline/relation.py). Only "same" links make statement groups.
    relation: str = "same"


@dataclass(frozen=True)
class MissingModel:
    """Sentences left untranslated because no model is installed for their language, or the
    one installed fails (`failed_package`: its folder; "" when none is installed)."""

    lang: str
    sentences: int
    install_command: str
    failed_package: str = ""
