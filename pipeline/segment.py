"""Split article text into sentences by punctuation rules shared by English, Russian, Ukrainian."""

from __future__ import annotations

import re

from pipeline.clean import MONTH

_CLOSERS = "»”“\"'’)]"  # “ closes „…“ quotes, the usual style in Ukrainian
_OPENERS = "«“„\"'‘"
_DASHES = "—–-"

# A run of terminators with the quotes and brackets that close on it, then the space before
# the next sentence (blocks have their whitespace collapsed to single spaces). A match starts
# only at a run's first terminator and never gives back what it took: on a long run of "!" or
# "." without a space, each position is looked at once (linear time, not quadratic).
_TERMINATOR = re.compile(rf"(?<![.!?…])[.!?…]++[{re.escape(_CLOSERS)}]*+ ")
_ENDS_WITH_TERMINATOR = re.compile(rf"[.!?…][{re.escape(_CLOSERS)}]*$")

# Abbreviations, lowercased, without their final period. Two kinds, as in the grammars of
# all three languages:
# - those that stand before what they qualify (a title, a reference, a place type, a month
#   before its day): the sentence goes on after them, whatever follows ("Дж. Байден",
#   "ч. 2 ст. 228", "акад. Сахаров", "Mt. Everest", "с 5 окт. по 1 нояб.");
# - those that stand after it (units, currencies, "and so on"): they can end a sentence, so
#   a capitalised word after them starts the next one ("5 млрд руб. Правительство").
_PREFIX_WORDS = (
    # English titles, references, months and Latin
    "mr mrs ms messrs dr prof gen sen rep st gov col lt capt maj sgt cpl pvt adm cmdr brig rev "
    "hon mt ft vs cf approx jan feb mar apr jun jul aug sep sept oct nov dec "
    # Russian
    "дж проф доц акад ген ул им см ч ст п пп рис табл гл стр тов св пер просп пл "
    "янв фев мар апр июн июл авг сен сент окт ноя нояб дек "
    # Ukrainian
    "ім вул див стор пров січ лют бер квіт трав черв лип серп вер жовт лист груд"
)
_PREFIX_ABBREVIATIONS = frozenset(_PREFIX_WORDS.split())
# Month abbreviations stand before a day ("Nov. 8"), or after one, where they can end a
# sentence ("on 5 Nov. The polls").
_MONTH_ABBREVIATIONS = frozenset(
    "jan feb mar apr jun jul aug sep sept oct nov dec янв фев мар апр июн июл авг сен сент окт "
    "ноя нояб дек січ лют бер квіт трав черв лип серп вер жовт лист груд".split()
)
_SUFFIX_ABBREVIATIONS = frozenset(
    "etc inc ltd co corp jr sr гг руб коп млн млрд трлн тыс др долл обл рр грн тис ін".split()
)
# Abbreviations that are also ordinary words ("No. We refuse."), so only count before a number.
_NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "art", "vol", "fig", "p", "pp", "ch", "sec"})
# Dotted abbreviations that never end a sentence; every other one can ("at 5 p.m. The").
_PREFIX_DOTTED = frozenset({"e.g", "i.e", "т.е", "т.н", "т.ч"})
# A lowercase letter closing "т. д.", "т. п." (and so on) or "н. э." (AD) ends what it closes.
_CLOSING_LETTERS = {"т": "дп", "н": "э"}
# An uppercase dotted abbreviation (U.S., U.K., D.C.) is most often a modifier ("the U.S.
# Army"); it ends a sentence only before a word that opens one and modifies nothing.
_OPENING_WORDS = frozenset(
    "the a an it its he his she her they their we our i you this that these those there here "
    "but and or so yet in on at by for from with as after before when while if no some most "
    "many all both each however meanwhile then now also still "
    # Russian and Ukrainian (used after a single capital letter: "план Б. Переговоры" stays
    # one, "план Б. Но" is two)
    "но и а он она они мы это этот эта эти его их в на по при после однако також але і та "
    "він вона вони ми це цей ця ці його їх у".split()
)
# A time abbreviation before these words goes on ("at 11 p.m. Monday").
_WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
# A sentence that has only a date before its abbreviation ("В 2024 г. Москва приняла...") has
# not ended: such a fragment opens with a preposition and has a few words at most.
_PREPOSITIONS = frozenset(
    "в во с со к ко до по на за от у из о об при з із зі після in on by".split()
)
_SHORT_FRAGMENT_WORDS = 4
# A clause may open with a conjunction before its preposition ("..., а в 2023 г. Россия").
_CONJUNCTIONS = frozenset("а и но і й та але and but".split())

# Initials ("J. Smith", "В. В. Путин"), and one-letter abbreviations ("2024 г.", "т. д.").
_SINGLE_LETTER = re.compile(r"[^\W\d_]")
# Dotted abbreviations, whose last period is the one tested ("U.S.", "a.m.", "т.е.", "н.э.").
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
_NUMBER = re.compile(r"\d[\d.,–-]*|[IVXLC]+")
# A longer "sentence" (a scraped line with no punctuation, a script without spaces after its full
# stops) is cut into pieces of at most this many characters, at the last whitespace before the
# limit, else mid-word. Downstream every stage caps its input: CTranslate2 truncates a source
# beyond 1024 tokens and stops decoding at `translate.max_decoding_length` (256 tokens, about
# 1000 characters of English), and the embedder reads 256 tokens. News sentences stay far below
# it (the longest in the sample and seed pages has 388 characters).
MAX_SENTENCE_CHARS = 600
_WHITESPACE = re.compile(r"\s")

# A news-agency dateline ("BRUSSELS, November 8. /TASS/. The Council...") stays with the first
# sentence, so that no article gets a dateline-only sentence that would align with other
# articles' datelines instead of with any statement.
_AGENCY_TAG = re.compile(r"/[^\W\d_]+/")
_MONTH = re.compile(MONTH, re.IGNORECASE | re.VERBOSE)
_MAX_DATELINE_PIECES = 3
# The year's word in a dated dateline ("8 ноября 2024 года", "8 листопада 2024 р.").
_YEAR_WORDS = frozenset("г гг года году р року рік year".split())
_MAX_DATELINE_WORDS = 8
_DATELINE_PUNCTUATION = ".,;:()/—–-" + _OPENERS + _CLOSERS
# How far around a terminator the rules look (characters).
_HEAD_CHARS = 60
_AFTER_CHARS = 40


def split_lines(text: str) -> list[str]:
    """One sentence per non-empty line, stripped (for input that is already segmented).

    A line over MAX_SENTENCE_CHARS is cut into pieces, as in split_sentences.
    """
    return [piece for line in text.splitlines() if line.strip() for piece in _cap(line.strip())]


def split_sentences(text: str) -> list[str]:
    """Sentences in order; joined by single spaces they give the whitespace-collapsed text.

    None is longer than MAX_SENTENCE_CHARS. The one exception to the joining rule: a run of
    more than MAX_SENTENCE_CHARS characters without whitespace is cut without a space.
    """
    return [
        piece
        for block in _blocks(text)
        for sentence in _split_block(block)
        for piece in _cap(sentence)
    ]


def _cap(sentence: str) -> list[str]:
    """Pieces of at most MAX_SENTENCE_CHARS, stripped, cut at the last whitespace that fits."""
    pieces = []
    start = 0
    while len(sentence) - start > MAX_SENTENCE_CHARS:
        end = start + MAX_SENTENCE_CHARS
        # Search from start + 1 so that the piece before the cut is never empty.
        spaces = [match.start() for match in _WHITESPACE.finditer(sentence, start + 1, end + 1)]
        cut = spaces[-1] if spaces else end
        pieces.append(sentence[start:cut].rstrip())
        start = cut
        while start < len(sentence) and sentence[start].isspace():
            start += 1
    if start < len(sentence):
        pieces.append(sentence[start:])
    return pieces


def _blocks(text: str) -> list[str]:
    """Lines with whitespace collapsed, a hard-wrapped continuation joined onto its line."""
    blocks: list[list[str]] = []  # each block's lines, joined once at the end
    continues = False
    for line in text.splitlines():
        words = line.split()
        if not words:
            # A blank line ends a paragraph, whatever the line before it ended with.
            continues = False
            continue
        line = " ".join(words)
        if continues and line[0].islower():
            blocks[-1].append(line)
        else:
            blocks.append([line])
        continues = not _ENDS_WITH_TERMINATOR.search(line)  # a block ends where its line does
    return [" ".join(lines) for lines in blocks]


def _split_block(block: str) -> list[str]:
    sentences = []
    start = 0
    for match in _TERMINATOR.finditer(block):
        # Only the two words before the terminator and a few characters around it are looked
        # at, never the whole text (which would make long blocks quadratic).
        word_start = max(block.rfind(" ", start, match.start()) + 1, start)
        word = block[word_start : match.start()]
        previous_end = max(word_start - 1, start)
        previous = block[max(block.rfind(" ", start, previous_end) + 1, start) : previous_end]
        head = block[max(start, word_start - _HEAD_CHARS) : word_start]
        head_is_whole = word_start - start <= _HEAD_CHARS
        after = block[match.end() : match.end() + _AFTER_CHARS]
        terminator = match.group().rstrip(_CLOSERS + " ")
        clause = _clause(head, head_is_whole)
        if _starts_sentence(after) and (
            terminator != "." or _period_ends_sentence(word, previous, clause, after)
        ):
            sentences.append(block[start : match.end() - 1])
            start = match.end()
    sentences.append(block[start:])
    return _with_dateline_joined(sentences)


def _starts_sentence(after: str) -> bool:
    """Whether the text after a terminator opens a new sentence rather than continuing one."""
    first = after[0]
    if first in _DASHES:
        # "— Куда? — спросила она": a dash before a lowercase word attributes the quote before it.
        return after[1:2] == " " and not after[2:3].islower()
    # "eBay said..." opens a sentence with a lowercase letter followed by a capital.
    camel = first.islower() and after[1:2].isupper()
    return first.isupper() or first.isdigit() or first in _OPENERS or camel


def _period_ends_sentence(word: str, previous: str, head: str | None, after: str) -> bool:
    """Whether the period after `word` ends the sentence, given the word before it
    (`previous`), the last clause of the sentence up to `word` (`head`, None when long) and
    the text after, which opens a sentence. False for initials and abbreviations that go on."""
    word = word.lstrip(_OPENERS + "([")
    lowered = word.lower()
    next_word = after.split(" ", 1)[0].strip(_OPENERS + _CLOSERS + ".,;:").lower()
    if not word:
        return True
    if lowered in _MONTH_ABBREVIATIONS and _NUMBER.fullmatch(previous):
        return not _is_date_phrase(head)  # "set for 5 Nov. The polls open"
    if _AGENCY_TAG.fullmatch(word) or lowered in _PREFIX_ABBREVIATIONS:
        return False
    if _SINGLE_LETTER.fullmatch(word) and word.isupper():
        # An initial ("Judge P. K. Mendes", never "p." for page), unless a word that opens
        # sentences follows ("Plan B. The talks", "план Б. Но"), not another initial.
        next_is_initial = re.match(r"[^\W\d_]\.", after) is not None
        return next_word in _OPENING_WORDS and not next_is_initial
    if lowered in _NUMBER_ABBREVIATIONS:
        return not after[0].isdigit()
    if _SINGLE_LETTER.fullmatch(word):
        # "г. Москва", "т. е.": the sentence goes on; a year, a unit, or the last letter of
        # "т. д." can end it.
        closes = previous[:-1].lower() in _CLOSING_LETTERS and lowered in _CLOSING_LETTERS.get(
            previous[:-1].lower(), ""
        )
        after_number = _NUMBER.fullmatch(previous) is not None
        return (closes or after_number) and not _is_date_phrase(head)
    if _DOTTED.fullmatch(word):
        if lowered in _PREFIX_DOTTED:
            return False
        if word.isupper():
            return next_word in _OPENING_WORDS
        # A time goes on before a weekday or a time zone ("at 6 a.m. ET", "10 a.m. GMT").
        zone = after.split(" ", 1)[0].rstrip(".,;:")
        is_zone = zone.isupper() and 2 <= len(zone) <= 4
        return next_word not in _WEEKDAYS and not is_zone and not _is_date_phrase(head)
    if lowered in _SUFFIX_ABBREVIATIONS:
        return not _is_date_phrase(head)
    return True


def _clause(head: str, whole: bool) -> str | None:
    """The last clause of the sentence so far (after its last comma), or None when `head`
    (the text before the word, at most _HEAD_CHARS) holds no comma and is not `whole`."""
    if "," in head:
        return head.rsplit(",", 1)[1]
    return head if whole else None


def _is_date_phrase(head: str | None) -> bool:
    """Whether the clause so far is only a prepositional phrase such as "В 2024" or "..., в
    2023", which an abbreviation ("г.") cannot end."""
    if head is None:
        return False
    words = head.split()
    if words and words[0].lower() in _CONJUNCTIONS:
        words = words[1:]
    return 0 < len(words) <= _SHORT_FRAGMENT_WORDS and words[0].lower() in _PREPOSITIONS


def _with_dateline_joined(sentences: list[str]) -> list[str]:
    """`sentences` with a leading agency dateline joined onto the first sentence after it.

    A dateline is a run of short pieces made only of capitalised words, numbers, month names,
    the year's word and punctuation ("Москва. 8 ноября. INTERFAX.RU - Совет...", "Київ, 8
    листопада 2024 року. Укрінформ. Уряд...", "МОСКВА, 8 ноя — РИА Новости. Совет..."),
    holding a month: "Статья 5. Права граждан." is no dateline.
    """
    pieces = 0
    dated = False
    for sentence in sentences[: min(len(sentences) - 1, _MAX_DATELINE_PIECES)]:
        words = [w.strip(_DATELINE_PUNCTUATION) for w in sentence.split()]
        if len(words) > _MAX_DATELINE_WORDS or not all(_is_dateline_word(w) for w in words):
            break
        pieces += 1
        dated = dated or any(_MONTH.fullmatch(w) for w in words if w)
    if not (pieces and dated):
        return sentences
    return [" ".join(sentences[: pieces + 1]), *sentences[pieces + 1 :]]


def _is_dateline_word(word: str) -> bool:
    return (
        not word
        or word[0].isupper()
        or word[0].isdigit()
        or word.lower() in _YEAR_WORDS
        or bool(_MONTH.fullmatch(word))
    )
