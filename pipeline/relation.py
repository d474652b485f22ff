"""What two linked sentences' English sides say about each other's facts: same, disagrees, or
different claims altogether.

Sentence embeddings place sentences on one topic close together whatever their figures, names
and polarity: "The bank raised its rate to 5.25 percent" and "The bank kept its rate at 4.75
percent" score a cosine near 0.8. Those are the words an analyst checks first, so they are
compared directly:
- names: capitalised words after a sentence's first word (people, places, organisations).
  Both sides name someone or somewhere and no name is shared (allowing for transliteration,
  "Kyiv"/"Kiev"): the sentences are about different people or places, different claims.
- figures: both sides give numbers (digits or number words) and share none, or both name a
  day of the week and not the same one: the same statement with other figures or another day,
  a disagreement ("5 killed" / "7 killed"), a finding itself.
- polarity: one side negates ("not", "never", "denied", "failed") and the other does not,
  while the rest of the two sentences is the same words ("the law violated the right" /
  "the law did not violate the right"). Paraphrase turns negation over freely ("no danger" /
  "safe"): on the sample gold a plain negation test marked 12 true links as disagreements.
This is a rule set, not a model: no library compares the facts of two news sentences, and the
three checks are the ones the divergent spans (pipeline/spans.py) show analysts missing.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from pipeline.spans import FUNCTION_WORDS, WORD, divergent_spans

SAME = "same"
DISAGREES = "disagrees"  # same topic and names, other figures or polarity: kept, marked
DIFFERENT = "different"  # other people or places: not the same statement, not linked
RELATIONS = (SAME, DISAGREES)

_TOKEN = re.compile(r"\d[\d,.]*\d|\d|[^\W\d_][\w'’-]*")
_THOUSANDS = re.compile(r",(?=\d{3}\b)")
# Capitalised words that name no one: weekdays and months (a date is checked as a figure),
# and words capitalised for other reasons.
_NOT_NAMES = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december i a an the""".split()
)
# Capitalised before a name, shared by people who are not the same person.
_TITLES = frozenset(
    """president prime minister mayor governor chancellor secretary general spokesman
    spokeswoman spokesperson chief director judge justice ambassador envoy king queen""".split()
)
_WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
_MONTHS = frozenset(
    """january february march april may june july august september october november
    december""".split()
)
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        """zero one two three four five six seven eight nine ten eleven twelve thirteen
        fourteen fifteen sixteen seventeen eighteen nineteen twenty""".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "dozen": "12"}
_NEGATIONS = frozenset(
    """not no never nobody none nothing neither nor without deny denies denied denying
    fail fails failed refuse refuses refused""".split()
)
# A negation flips a statement when at most this many other content words differ.
MAX_OTHER_WORDS = 1
_AUXILIARIES = frozenset("do does did will would shall should can could may might must".split())
# Two spellings of one name (transliteration, inflection) are at least this similar.
NAME_SIMILARITY = 0.7


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(_THOUSANDS.sub("", text))


def names(text: str) -> set[str]:
    """Capitalised words after the first, lowercased, possessive dropped; not function words
    (a quotation's first word: `said: "We will..."`) nor titles ("President", "Mayor")."""
    found = set()
    for token in _tokens(text)[1:]:
        if token[0].isupper():
            name = re.sub(r"['’]s$", "", token).lower()
            if name not in _NOT_NAMES and name not in FUNCTION_WORDS and name not in _TITLES:
                found.add(name)
    return found


def figures(text: str) -> set[str]:
    """Numbers in digits ("2,400" as "2400") and number words ("seven" as "7"); not the day of
    a date ("8 November", "November 8"), which outlets write in other ways ("on Friday")."""
    found = set()
    tokens = _tokens(text)
    for index, token in enumerate(tokens):
        lowered = token.lower()
        beside = {t.lower() for t in tokens[max(index - 1, 0) : index + 2]}
        if token[0].isdigit() and not beside & _MONTHS:
            found.add(token.rstrip(".,"))
        elif (word := lowered.split("-")[0]) in _NUMBER_WORDS:  # "two-day" as well
            found.add(_NUMBER_WORDS[word])
    return found


def weekdays(text: str) -> set[str]:
    """The days of the week a sentence names."""
    return {t.lower() for t in _tokens(text)} & _WEEKDAYS


def negated(text: str) -> bool:
    return any(t.lower() in _NEGATIONS or t.lower().endswith("n't") for t in _tokens(text))


@dataclass(frozen=True)
class Facts:
    names: frozenset[str]
    figures: frozenset[str]
    weekdays: frozenset[str]
    negated: bool


# One sentence is in many links: its facts are read once.
@functools.lru_cache(maxsize=1 << 16)
def facts(text: str) -> Facts:
    return Facts(
        frozenset(names(text)), frozenset(figures(text)), frozenset(weekdays(text)), negated(text)
    )


def _share_a_name(first: frozenset[str], second: frozenset[str]) -> bool:
    return any(
        a == b or difflib.SequenceMatcher(None, a, b).ratio() >= NAME_SIMILARITY
        for a in first
        for b in second
    )


def share_a_figure(english_a: str, english_b: str) -> bool:
    """Whether both sentences give one same figure (the day of a date is no figure)."""
    return bool(facts(english_a).figures & facts(english_b).figures)


def relation(english_a: str, english_b: str) -> str:
    """SAME, DISAGREES or DIFFERENT for two English sentences (see the module docstring)."""
    a, b = facts(english_a), facts(english_b)
    if a.names and b.names and not a.names & b.names and not _share_a_name(a.names, b.names):
        return DIFFERENT
    if a.figures and b.figures and not a.figures & b.figures:
        return DISAGREES
    if a.weekdays and b.weekdays and not a.weekdays & b.weekdays:
        return DISAGREES
    if a.negated != b.negated and _only_polarity_differs(english_a, english_b):
        return DISAGREES
    return SAME


def _only_polarity_differs(english_a: str, english_b: str) -> bool:
    """Whether the words one side has and the other lacks are, beyond negations, auxiliaries
    and function words, at most MAX_OTHER_WORDS (compared by crude stem: "violated" and
    "did not violate" differ in polarity only)."""
    only_a, only_b = divergent_spans(english_a, english_b)

    def stems(spans: list[str]) -> set[str]:
        words = {w.lower() for span in spans for w in WORD.findall(span)}
        return {_stem(w) for w in words - _NEGATIONS - _AUXILIARIES - FUNCTION_WORDS}

    return len(stems(only_a) ^ stems(only_b)) <= MAX_OTHER_WORDS


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "e", "s", "d"):
        if word.endswith(suffix) and len(word) > len(suffix) + 3:
            return word[: -len(suffix)]
    return word
