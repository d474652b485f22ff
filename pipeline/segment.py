"""Split article text into sentences by punctuation rules shared by English, Russian, Ukrainian."""

from __future__ import annotations

import re

_CLOSERS = "»”“\"'’)]"  # “ closes „…“ quotes, the usual style in Ukrainian
_OPENERS = "«“„\"'‘"
_DASHES = "—–-"

# A run of terminators with the quotes and brackets that close on it, then the space before
# the next sentence (blocks have their whitespace collapsed to single spaces). A match starts
# only at a run's first terminator and never gives back what it took: on a long run of "!" or
# "." without a space, each position is looked at once (linear time, not quadratic).
_TERMINATOR = re.compile(rf"(?<![.!?…])[.!?…]++[{re.escape(_CLOSERS)}]*+ ")
_ENDS_WITH_TERMINATOR = re.compile(rf"[.!?…][{re.escape(_CLOSERS)}]*$")

# Words that end in a period without ending the sentence. Lowercased, without the period.
# A sentence that really ends on one of them ("...and so on, etc. Then") stays joined to the
# next: one merged statement costs less than a name or a date cut in half.
_ABBREVIATION_WORDS = (
    # English titles, months and Latin
    "mr mrs ms dr prof gen sen rep st jr sr gov col lt capt maj vs etc "
    "jan feb mar apr jun jul aug sep sept oct nov dec "
    # Russian
    "гг др пр ул им проф стр см тыс млн млрд руб ген "
    # Ukrainian
    "рр ін грн вул ім тис див"
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
# Abbreviations that are also ordinary words ("No. We refuse."), so only count before a number.
_NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "art", "vol"})

# Initials and one-letter abbreviations ("J. Smith", "В. В. Путин", "2024 г.", "2024 р.", "т. д.").
_SINGLE_LETTER = re.compile(r"[^\W\d_]")
# Dotted abbreviations, whose last period is the one tested ("U.S.", "a.m.", "т.е.", "н.э.").
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
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
        # Only the last word before the terminator and a few characters after it are looked
        # at, never the whole text around it (which would make long blocks quadratic).
        word = block[max(block.rfind(" ", start, match.start()) + 1, start) : match.start()]
        after = block[match.end() : match.end() + 3]
        terminator = match.group().rstrip(_CLOSERS + " ")
        if _starts_sentence(after) and not (terminator == "." and _is_abbreviation(word, after)):
            sentences.append(block[start : match.end() - 1])
            start = match.end()
    sentences.append(block[start:])
    return sentences


def _starts_sentence(after: str) -> bool:
    """Whether the text after a terminator opens a new sentence rather than continuing one."""
    first = after[0]
    if first in _DASHES:
        # "— Куда? — спросила она": a dash before a lowercase word attributes the quote before it.
        return after[1:2] == " " and not after[2:3].islower()
    return first.isupper() or first.isdigit() or first in _OPENERS


def _is_abbreviation(word: str, after: str) -> bool:
    """Whether the period after `word` (the last word before it) belongs to an abbreviation or
    an initial."""
    if not word:
        return False
    word = word.lstrip(_OPENERS + "([")
    lowered = word.lower()
    return bool(
        _SINGLE_LETTER.fullmatch(word)
        or _DOTTED.fullmatch(word)
        or _AGENCY_TAG.fullmatch(word)
        or lowered in _ABBREVIATIONS
        or (lowered in _NUMBER_ABBREVIATIONS and after[0].isdigit())
    )
