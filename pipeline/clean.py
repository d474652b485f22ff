"""Drop whole lines of page noise (counters, widgets, crumbs, bare dates) from an article's text."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A line is noise only when one of these matches all of it (after stripping), so a sentence
# that merely contains a number, a date or the word "Share" is never touched.

# Scraped pages keep the "N visitors online" box; it is a statistic of the site, not the story.
_VISITOR_COUNTER = re.compile(
    r"""
    \d[\d\s]*\s+
    (?:visitors?|users?|readers?|guests?|посетител\w*|читател\w*|пользовател\w*
      |відвідувач\w*|читач\w*|користувач\w*)
    \s+(?:online|онлайн|on\s+(?:the\s+)?site|на\s+сайте|на\s+сайті)
    |
    (?:(?:now\s+)?online(?:\s+now)?|онлайн|(?:сейчас\s+|зараз\s+)?на\s+сайт[еі])
    \s*:?\s*\d[\d\s]*
    """,
    re.IGNORECASE | re.VERBOSE,
)

# A line with digits and no letter at all is a share/like/view count row ("1 379 10",
# "👍 34  💬 5") or a bare time or numeric date ("00:49", "08.11.2024", "2024-11-08 14:05"):
# it states nothing that another article could repeat. (The lookahead asks for the digit, so
# a long line of digits and one letter at its end fails in one pass, not in quadratic time.)
_NUMBERS_ONLY = re.compile(r"(?=\D*\d)[\d\W_]*")

# A month name or its abbreviation, in English, Russian or Ukrainian (a verbose pattern).
MONTH = r"""
    (?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?
      |sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?
      |январ[яь]|феврал[яь]|марта?|апрел[яь]|ма[яй]|июн[яь]|июл[яь]|августа?
      |сентябр[яь]|октябр[яь]|ноябр[яь]|декабр[яь]
      |січ(?:ня|ень)|лют(?:ого|ий)|берез(?:ня|ень)|квіт(?:ня|ень)|трав(?:ня|ень)
      |черв(?:ня|ень)|лип(?:ня|ень)|серп(?:ня|ень)|верес(?:ня|ень)|жовт(?:ня|ень)
      |листопада?|груд(?:ня|ень)
      |янв|фев|апр|июн|июл|авг|сент?|окт|нояб?|дек
      |січ|лют|бер|квіт|трав|черв|лип|серп|вер|жовт|лист|груд)\.?
"""

# A publication date spelled with a month name ("8 ноября 2024, 14:05", "November 8, 2024"),
# optionally after a weekday or a time, is page furniture when it stands alone on its line.
_DATE_LINE = re.compile(
    rf"""
    (?:\d{{1,2}}:\d{{2}},?\s+)?
    (?:[^\W\d_]+,\s*)?
    (?:\d{{1,2}}\s+{MONTH}(?:\s+\d{{4}})?
      |{MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?
      |{MONTH}\s+\d{{4}})
    (?:\s*(?:г|р)\.|\s+(?:года|року))?
    (?:,?\s+(?:в\s+|о\s+|at\s+)?\d{{1,2}}:\d{{2}}(?::\d{{2}})?)?
    """,
    re.IGNORECASE | re.VERBOSE,
)

_WIDGET_WORD = r"""
    (?:share|likes?|tweet|retweet|facebook|twitter|telegram|whatsapp|viber|linkedin|reddit
      |vkontakte|vk|e-?mail|print|comments?|reply
      |поделиться|поширити|поділитися|нравится|подобається|вконтакте|одноклассники
      |комментари[йи]|коментар(?:і|ів)|печать|друк)\b
"""

# Share and like buttons flatten into lines of network names and counts ("Like 12",
# "Facebook Twitter Telegram"); a line qualifies only if every word on it is such a label.
# Digits and punctuation go in one character class: a nested `(?:\d+\W*)*` would try every
# way to split a run of digits, and a line like "1111111111111111111111111x" would take hours.
_SHARE_WIDGET = re.compile(
    rf"[\d\W]*(?:{_WIDGET_WORD}[\d\W]*)+",
    re.IGNORECASE | re.VERBOSE,
)

_CRUMB = r"[^\W\d_][\w'’.-]*(?:\s[\w'’.-]+){0,3}"
_CRUMB_SEPARATOR = r"\s*[>»›/]\s*"

# Navigation crumbs ("Home > World > Europe", "Головна » Новини"): short labels joined by
# arrows or slashes, starting at the home page or at least three levels deep. A "|" is not a
# separator here because sites use it to append their name to real headlines.
_BREADCRUMB = re.compile(
    rf"""
    (?:home|main|news|главная|новости|головна|новини)(?:{_CRUMB_SEPARATOR}{_CRUMB})+
    |{_CRUMB}(?:{_CRUMB_SEPARATOR}{_CRUMB}){{2,}}
    """,
    re.IGNORECASE | re.VERBOSE,
)

# A "Read also" label whose link text was lost introduces another article, not this one.
_READ_ALSO = re.compile(
    r"""
    (?:read\s+(?:also|more)|also\s+read|see\s+also|читайте\s+также|читайте\s+також
      |смотрите\s+также|дивіться\s+також|по\s+теме|на\s+тему)
    \s*[:.…»>→-]*
    """,
    re.IGNORECASE | re.VERBOSE,
)

# A subheading that asks the question the next paragraphs answer ("What was the background?",
# "Что известно?", "Що відомо?"): a short question on its own line. It states nothing.
_SUBHEADING_QUESTION = re.compile(
    r"""
    (?:what|why|how|who|when|where|which|что|почему|как|кто|когда|где|зачем|що|чому|як|хто
      |коли|де|навіщо)
    \b[^.!?\n]{0,60}\?
    """,
    re.IGNORECASE | re.VERBOSE,
)
# At most this many words in such a subheading.
_SUBHEADING_WORDS = 6
# At most this many words in a related article's headline at the end of the page.
_TEASER_WORDS = 12
_QUOTES = "\"'«»“”„‘’"

_RULES = (_VISITOR_COUNTER, _NUMBERS_ONLY, _DATE_LINE, _SHARE_WIDGET, _BREADCRUMB, _READ_ALSO)

# A scraper's label and date before the first sentence ("date 2024-10-16 NATO has no...",
# "Published: 2024-10-16T14:05:00Z", "updated 16.10.2024 14:05 UTC"), or alone on its line.
_DATE_PREFIX = re.compile(
    r"\s*(?:date|published|updated|posted|дата|опубликовано|опубліковано)\s*:?\s*"
    r"(?:\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{4})"
    r"(?:(?:T|,?\s+)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    r"(?:\s*(?:Z|UTC|GMT|MSK|EET|CET|[+-]\d{2}:?\d{2})\b)?(?:\s+|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Cleaned:
    """An article's text without its noise lines, and the lines that were dropped."""

    # The input minus the removed lines and date prefixes; all else, line ends included, as is.
    text: str
    removed: tuple[str, ...]  # the removed lines and prefixes, without line ends, in input order


def _is_noise(line: str) -> bool:
    """True when the whole line (ignoring surrounding whitespace) is page furniture."""
    stripped = line.strip()
    if not stripped:
        return False
    if len(stripped.split()) <= _SUBHEADING_WORDS and _SUBHEADING_QUESTION.fullmatch(stripped):
        return True
    return any(rule.fullmatch(stripped) for rule in _RULES)


def _is_teaser(line: str, before: str) -> bool:
    """A related article's headline left at the page's end ("Москва перебросила 7 тысяч солдат
    КНДР к украинской границе!"): short, one sentence, an exclamation not in quotes, after a
    body line that ends with a full stop. (A line with no final punctuation may be the body's
    own last sentence with its full stop lost: it stays.)"""
    stripped, before = line.strip(), before.rstrip()
    return (
        len(stripped.split()) <= _TEASER_WORDS
        and not re.search(r"[.?!…]\s", stripped)
        and stripped.endswith("!")
        and stripped[0] not in _QUOTES
        and before.endswith(".")
    )


def clean_text(text: str) -> Cleaned:
    """Remove noise lines, date prefixes and a trailing teaser; everything else, blank lines
    included, stays byte-identical."""
    kept: list[tuple[int, str]] = []  # (line number, line)
    removed: list[tuple[int, str]] = []  # (line number, what was removed)
    for number, line in enumerate(text.splitlines(keepends=True)):
        if _is_noise(line):
            removed.append((number, line.splitlines()[0]))
            continue
        prefix = _DATE_PREFIX.match(line)
        if prefix and not line[prefix.end() :].strip():  # the label and date alone
            removed.append((number, line.splitlines()[0]))
            continue
        if prefix:
            removed.append((number, prefix.group().strip()))
            line = line[prefix.end() :]
        kept.append((number, line))
    body = [(index, line) for index, (_, line) in enumerate(kept) if line.strip()]
    if len(body) >= 3 and _is_teaser(body[-1][1], body[-2][1]):
        number, line = kept.pop(body[-1][0])
        removed.append((number, line.strip()))
    return Cleaned(
        text="".join(line for _, line in kept),
        removed=tuple(what for _, what in sorted(removed, key=lambda item: item[0])),
    )
