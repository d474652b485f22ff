"""What two linked sentences' English sides say about each other's facts: same, disagrees, or
different claims altogether.

Sentence embeddings place sentences on one topic close together whatever their figures, names
and polarity: "The bank raised its rate to 5.25 percent" and "The bank kept its rate at 4.75
percent" score a cosine near 0.8. Those are the words an analyst checks first, so they are
compared directly:
- names: capitalised words after a sentence's first word (people, places, organisations).
  Both sides name someone or somewhere and no name is shared (allowing for transliteration,
  "Kyiv"/"Kiev", and acronyms, "UN"/"United Nations"): the sentences are about different
  people or places, different claims. So are two sides that both name a titled person and not
  the same one ("Secretary General Jens Stoltenberg" / "Secretary General Mark Rutte"), even
  when they share the organisation: who said it is part of the claim.
- figures: both sides give numbers and share none, or count one thing with other numbers
  ("Fourteen people ... three crew members" / "Sixteen people ... three crew members"), or
  both name a day of the week and not the same one: the same statement with other figures or
  another day, a disagreement ("5 killed" / "7 killed"), a finding itself. Numbers written in
  words are read by text2num ("three thousand" is 3000, "twenty-five" 25), with multipliers
  ("1.5 million", "two dozen") and times ("10:30"/"10.30") made one spelling; vague
  quantities ("thousands of", "several thousand") are no figures.
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

from text_to_num import alpha2digit

from pipeline.spans import FUNCTION_WORDS, WORD, divergent_spans

SAME = "same"
DISAGREES = "disagrees"  # same topic and names, other figures or polarity: kept, marked
DIFFERENT = "different"  # other people or places: not the same statement, not linked
RELATIONS = (SAME, DISAGREES)

_TOKEN = re.compile(r"\d[\d,.]*\d|\d|[^\W\d_][\w'’-]*")
_THOUSANDS = re.compile(r",(?=\d{3}\b)")
_POSSESSIVES = ("'s", "’s")
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
# Units of time: a span of time is counted in any of them ("72-hour", "three-day").
_DURATIONS = frozenset(
    unit + plural
    for unit in "second minute hour day week month year decade".split()
    for plural in ("", "s")
)
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        """zero one two three four five six seven eight nine ten eleven twelve thirteen
        fourteen fifteen sixteen seventeen eighteen nineteen twenty""".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "dozen": "12"}
# "thousands of", "several thousand": an order of magnitude, not a figure to compare.
_VAGUE = re.compile(
    r"\b(?:(?:dozens|hundreds|thousands|millions|billions|tens) of"
    r"|(?:several|a few|few|many|some) (?:dozen|hundred|thousand|million|billion))\b",
    re.IGNORECASE,
)
_MULTIPLIERS = {"dozen": 12, "thousand": 10**3, "million": 10**6, "billion": 10**9}
_MULTIPLIED = re.compile(
    r"\b(\d+(?:\.\d+)?|[a-z]+)[\s-]+(dozen|thousand|million|billion|1000|1000000|1000000000)\b",
    re.IGNORECASE,
)
_MONTH_NAMES = "|".join(
    "January February March April May June July August September October November December".split()
)
# The day of a date: "8 November", "8th of November", "November 8" (the month is kept).
_DAY_MONTH = re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_NAMES})\b")
_MONTH_DAY = re.compile(rf"\b({_MONTH_NAMES})\s+\d{{1,2}}(?:st|nd|rd|th)?\b")
# A clock time: "3 a.m.", "10.30 pm", "10:30". Compared only with times: "3 a.m." and
# "200 houses" are not two counts of one thing.
_TIME = re.compile(
    r"\b(\d{1,2})(?:[.:](\d{2}))?\s*([ap])\.?m\b\.?|\b(\d{1,2}):(\d{2})\b", re.IGNORECASE
)
# "one" is a pronoun in these company: "no one", "one of them".
_PRONOUN_ONE = re.compile(r"\b(?:(?:no|any|every|some|the|this|that) one|one of)\b", re.IGNORECASE)
_NEGATIONS = frozenset(
    """not no never nobody none nothing neither nor without deny denies denied denying
    fail fails failed refuse refuses refused""".split()
)
# A negation flips a statement when at most this many other content words differ.
MAX_OTHER_WORDS = 1
_AUXILIARIES = frozenset("do does did will would shall should can could may might must".split())
# Two spellings of one name (transliteration, inflection) are at least this similar.
NAME_SIMILARITY = 0.7


# facts() reads one sentence's tokens six times (names, people, acronyms, weekdays, ...).
@functools.lru_cache(maxsize=1 << 16)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(_THOUSANDS.sub("", text)))


def _name(token: str) -> str:
    # String methods, not a regular expression: every token of every compared sentence comes
    # here, and re.sub made a third of facts()' time.
    return (token[:-2] if token.endswith(_POSSESSIVES) else token).lower()


def _is_name(token: str) -> bool:
    name = _name(token)
    return (
        token[0].isupper()
        and name not in _NOT_NAMES
        and name not in FUNCTION_WORDS
        and name not in _TITLES
    )


# Stories (pipeline/stories.py) read every sentence's names and figures; the align stage's
# facts() reads them again: each sentence is read once.
@functools.lru_cache(maxsize=1 << 16)
def names(text: str) -> frozenset[str]:
    """Capitalised words after the first, lowercased, possessive dropped; not function words
    (a quotation's first word: `said: "We will..."`) nor titles ("President", "Mayor")."""
    return frozenset(_name(token) for token in _tokens(text)[1:] if _is_name(token))


def titled_people(text: str) -> set[str]:
    """The names right after a title: "Secretary General Jens Stoltenberg" gives {"jens",
    "stoltenberg"}; "the Secretary General said" gives nothing."""
    tokens = _tokens(text)
    found = set()
    for index, token in enumerate(tokens[:-1]):
        if token.lower() in _TITLES and token[0].isupper() and _is_name(tokens[index + 1]):
            for following in tokens[index + 1 :]:
                if not _is_name(following):
                    break
                found.add(_name(following))
    return found


def _multiply(match: re.Match[str]) -> str:
    number, multiplier = match.group(1), match.group(2).lower()
    if not number[0].isdigit():
        if number.lower() not in _NUMBER_WORDS:
            return match.group(0)
        number = _NUMBER_WORDS[number.lower()]
    factor = _MULTIPLIERS.get(multiplier) or int(multiplier)
    value = float(number) * factor
    return str(int(value)) if value.is_integer() else str(value)


def figures(text: str) -> set[str]:
    """Numbers in digits ("2,400" as "2400"), in words (text2num's alpha2digit, "twenty-five"
    as "25", our own table for one to three and hyphenated "two-day"), multiplied out ("1.5
    million" as "1500000", "two dozen" as "24"), times as "10.30"; not vague quantities
    ("thousands of"), "one" as a pronoun ("no one"), nor the day of a date ("8 November",
    "November 8"), which outlets write in other ways ("on Friday")."""
    return {figure for figure, _ in _figure_tokens(text)}


def counted(text: str) -> set[tuple[str, str]]:
    """(thing, figure) for each figure of figures() and each of the two words after it that is
    no function word, crudely stemmed: "Fourteen injured people" gives ("injur", "14") and
    ("people", "14"). Two sentences that count one thing with other figures disagree."""
    found = set()
    for figure, following in _figure_tokens(text):
        if following and following[0] in _DURATIONS:
            continue  # "30-day" and "one-month" count one span of time in other units
        for word in following:
            if word.isalpha() and word not in FUNCTION_WORDS and word not in _NUMBER_WORDS:
                found.add((_stem(word), figure))
    return found


# figures() and counted() of one sentence read it once (facts() asks both; stories figures()).
@functools.lru_cache(maxsize=1 << 16)
def _figure_tokens(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """figures()'s numbers, each with the two words after it, lowercased (none where another
    figure comes first)."""
    text = _PRONOUN_ONE.sub(" ", _VAGUE.sub(" ", _THOUSANDS.sub("", text)))
    text = _MULTIPLIED.sub(_multiply, alpha2digit(text, "en"))
    text = _TIME.sub(" ", text)
    text = _MONTH_DAY.sub(r"\1", _DAY_MONTH.sub(r"\1", text))
    tokens = _tokens(text)
    found = []
    for index, token in enumerate(tokens):
        lowered = token.lower()
        if token[0].isdigit():
            figure, following = token.rstrip(".,"), []
        elif (word := lowered.split("-")[0]) in _NUMBER_WORDS:  # "two-day" as well
            figure, following = _NUMBER_WORDS[word], lowered.split("-")[1:2]
        else:
            continue
        for after in tokens[index + 1 : index + 3 - len(following)]:
            if after[0].isdigit() or after.lower() in _NUMBER_WORDS:
                break
            following.append(after.lower())
        found.append((figure, tuple(following)))
    return tuple(found)


def times(text: str) -> set[str]:
    """Clock times on a 24-hour clock, "H.MM": "3 p.m." and "15:00" are both "15.00"."""
    found = set()
    for match in _TIME.finditer(text):
        hour, minute, half, hour24, minute24 = match.groups()
        if hour24 is not None:
            hour, minute = hour24, minute24
        value = int(hour) % 12 + (12 if (half or "").lower() == "p" else 0) if half else int(hour)
        found.add(f"{value}.{minute or '00'}")
    return found


def weekdays(text: str) -> set[str]:
    """The days of the week a sentence names."""
    return {t.lower() for t in _tokens(text)} & _WEEKDAYS


def negated(text: str) -> bool:
    lowered = [t.lower() for t in _tokens(text)]
    return not _NEGATIONS.isdisjoint(lowered) or any(t.endswith("n't") for t in lowered)


@dataclass(frozen=True)
class Facts:
    names: frozenset[str]
    people: frozenset[str]  # names right after a title
    acronyms: frozenset[str]  # initials of runs of capitalised words
    figures: frozenset[str]
    counted: frozenset[tuple[str, str]]  # (thing, figure)
    times: frozenset[str]
    weekdays: frozenset[str]
    negated: bool


# One sentence is in many links: its facts are read once.
@functools.lru_cache(maxsize=1 << 16)
def facts(text: str) -> Facts:
    return Facts(
        names(text),
        frozenset(titled_people(text)),
        frozenset(_acronyms(text)),
        frozenset(figures(text)),
        frozenset(counted(text)),
        frozenset(times(text)),
        frozenset(weekdays(text)),
        negated(text),
    )


def _share_a_name(first: frozenset[str], second: frozenset[str]) -> bool:
    return any(a == b or _similar_names(a, b) for a in first for b in second)


# The same few names meet in many sentence pairs of a story: each pair of them is compared once.
@functools.lru_cache(maxsize=1 << 16)
def _similar_names(a: str, b: str) -> bool:
    """difflib's ratio >= NAME_SIMILARITY, its two cheap upper bounds tried first (as
    difflib.get_close_matches does): most name pairs differ at the first."""
    matcher = difflib.SequenceMatcher(None, a, b)
    return (
        matcher.real_quick_ratio() >= NAME_SIMILARITY
        and matcher.quick_ratio() >= NAME_SIMILARITY
        and matcher.ratio() >= NAME_SIMILARITY
    )


def _acronyms(text: str) -> set[str]:
    """The initials of each run of two or more capitalised words ("United Nations" gives
    "un", "North Atlantic Treaty Organization" "nato"), so an acronym meets its expansion."""
    found, run = set(), []
    for token in [*_tokens(text), "."]:
        if token[0].isupper() and _name(token) not in _NOT_NAMES - {"a", "i"}:
            run.append(_name(token))
            continue
        if token.lower() in {"of", "for", "and", "in"} and run:  # "Organization for Security"
            continue
        if len(run) >= 2:
            found.add("".join(word[0] for word in run))
        run = []
    return found


def share_a_figure(english_a: str, english_b: str) -> bool:
    """Whether both sentences give one same figure (the day of a date is no figure)."""
    return bool(facts(english_a).figures & facts(english_b).figures)


# Each kept link asks twice: when it is checked (align.plan_pair, merges, monotonic beads) and
# when it is made (ArticlePair.link); the polarity test runs difflib.
@functools.lru_cache(maxsize=1 << 16)
def relation(english_a: str, english_b: str) -> str:
    """SAME, DISAGREES or DIFFERENT for two English sentences (see the module docstring)."""
    a, b = facts(english_a), facts(english_b)
    if (
        a.names
        and b.names
        and not a.names & b.names
        and not _share_a_name(a.names, b.names)
        and not a.names & b.acronyms
        and not b.names & a.acronyms
    ):
        return DIFFERENT
    if a.people and b.people and not _share_a_name(a.people, b.people):
        return DIFFERENT
    if a.figures and b.figures and not a.figures & b.figures:
        return DISAGREES
    if _other_counts(a.counted, b.counted):
        return DISAGREES
    if a.times and b.times and not a.times & b.times:
        return DISAGREES
    if a.weekdays and b.weekdays and not a.weekdays & b.weekdays:
        return DISAGREES
    if a.negated != b.negated and _only_polarity_differs(english_a, english_b):
        return DISAGREES
    return SAME


def _other_counts(first: frozenset[tuple[str, str]], second: frozenset[tuple[str, str]]) -> bool:
    """Whether one thing both sentences count has no figure in common on the two sides."""
    by_thing: dict[str, tuple[set[str], set[str]]] = {}
    for side, pairs in enumerate((first, second)):
        for thing, figure in pairs:
            by_thing.setdefault(thing, (set(), set()))[side].add(figure)
    return any(a and b and not a & b for a, b in by_thing.values())


def _only_polarity_differs(english_a: str, english_b: str) -> bool:
    """Whether the words one side has and the other lacks are, beyond negations, auxiliaries
    and function words, at most MAX_OTHER_WORDS (compared by crude stem: "violated" and
    "did not violate" differ in polarity only)."""
    only_a, only_b = divergent_spans(english_a, english_b)

    def stems(spans: list[str]) -> set[str]:
        words = {w.lower() for span in spans for w in WORD.findall(span)}
        return {_stem(w) for w in words - _NEGATIONS - _AUXILIARIES - FUNCTION_WORDS}

    return len(stems(only_a) ^ stems(only_b)) <= MAX_OTHER_WORDS


# Irregular past forms news uses most, so "said" and "did not say" differ in polarity only.
_IRREGULAR = dict(
    pair.split(":")
    for pair in """said:say sent:send told:tell made:make took:take gave:give went:go came:come
    knew:know found:find thought:think brought:bring kept:keep left:leave held:hold met:meet
    paid:pay sold:sell built:build spent:spend won:win lost:lose began:begin broke:break
    chose:choose led:lead saw:see got:get ran:run wrote:write spoke:speak stood:stand fell:fall
    rose:rise shot:shoot struck:strike fought:fight bought:buy caught:catch sought:seek
    drove:drive flew:fly froze:freeze hid:hide meant:mean sat:sit slept:sleep understood:understand
    withdrew:withdraw""".split()
)


def _stem(word: str) -> str:
    word = _IRREGULAR.get(word, word)
    for suffix in ("ing", "ed", "es", "e", "s", "d"):
        if word.endswith(suffix) and len(word) > len(suffix) + 3:
            return word[: -len(suffix)]
    return word
