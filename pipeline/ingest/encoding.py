"""Turn an input file's bytes into text, detecting the encodings Russian and Ukrainian news use."""

from __future__ import annotations

import codecs
import re

from pipeline.ingest.errors import IngestError

# Above this share of control characters a "text" file is binary; real text has almost none.
MAX_CONTROL_SHARE = 0.05
# Without a BOM, UTF-16 shows as NUL bytes on one side of each code unit only; ASCII-heavy text
# has them on nearly every unit, Cyrillic at least on its spaces and punctuation.
MIN_UTF16_NUL_SHARE = 0.05

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Letter frequencies (percent) of Russian and Ukrainian news text, merged. The wrong one of
# cp1251 and koi8 maps frequent letters onto rare ones, so the right decode scores higher.
# fmt: off
_LETTER_FREQUENCY = {
    "о": 10.5, "е": 7.5, "а": 7.8, "и": 7.0, "н": 6.7, "т": 5.9, "с": 5.0, "р": 4.7,
    "в": 4.6, "л": 4.0, "к": 3.5, "м": 3.1, "д": 3.1, "п": 2.8, "у": 3.0, "я": 2.1,
    "і": 2.9, "ы": 1.0, "ь": 1.7, "г": 1.6, "з": 1.9, "б": 1.6, "ч": 1.3, "й": 1.1,
    "х": 1.0, "ж": 0.9, "ш": 0.8, "ю": 0.7, "ц": 0.7, "щ": 0.5, "ї": 0.4, "є": 0.3,
    "э": 0.2, "ф": 0.2, "ъ": 0.02, "ё": 0.02, "ґ": 0.01,
}
# fmt: on
# cp1251 and koi8 swap the cases, so a capitalised word read in the wrong one flips case inside
# the word ("Эксперт" as "щЙЯОЕПР"); and koi8 has box-drawing characters where cp1251 has ё,
# і, ї, є, quotes and dashes ("упадёт" as "СОЮД╦Р"). Each costs about as much as a frequent
# letter scores: on a short line, letter frequencies alone pick the wrong page (measured on
# 1,228 lines of the sample, the seed pages and the language-id gold, in both pages, in their
# own case and in capitals: 2 wrong with a penalty of 3 for flips only, none with these).
_CASE_FLIP_PENALTY = 6.0
_BOX_DRAWING_PENALTY = 6.0
# koi8-u is koi8-r plus the Ukrainian letters, so it reads Russian koi8-r text identically.
_CYRILLIC_CODEPAGES = ("cp1251", "koi8_u")
# The code page is chosen on the first bytes only; scoring a 100 MB file letter by letter is slow.
SAMPLE_BYTES = 256 * 1024
_CONTROLS = tuple(
    chr(code) for code in (*range(0x20), *range(0x7F, 0xA0)) if chr(code) not in "\t\n\r\f\v"
)
_NEWLINES = re.compile(r"\r\n?")


def decode(data: bytes) -> str:
    """Decode a file's bytes to text with "\\n" newlines and no BOM; IngestError if binary."""
    # NUL padding after the text (a preallocated or damaged file) is no content.
    text = _decode(data).removeprefix("\ufeff").rstrip("\x00")
    controls = sum(text.count(control) for control in _CONTROLS)
    if controls > MAX_CONTROL_SHARE * len(text):
        raise IngestError("binary content, not text")
    # A few stray NUL characters (a padded or damaged file) carry nothing; the text around
    # them is kept.
    return normalize_newlines(text.replace("\x00", ""))


def normalize_newlines(text: str) -> str:
    """Turn Windows and old Mac line ends into "\\n"."""
    return _NEWLINES.sub("\n", text)


def _decode(data: bytes) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    if b"\x00" in data and (utf16 := _decode_utf16_without_bom(data)) is not None:
        return utf16
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lenient = data.decode("utf-8", errors="replace")
    invalid = lenient.count("\ufffd") - data.count("\ufffd".encode())
    non_ascii = len(lenient) - len(lenient.encode("ascii", errors="ignore"))
    # Legacy single-byte text almost never forms a valid multi-byte UTF-8 sequence (a letter
    # byte followed by the right continuation bytes), so valid ones outnumbering the invalid
    # mean UTF-8 with damaged bytes, which become U+FFFD. (Comparing the invalid ones with all
    # non-ASCII characters instead took an English page with three curly quotes and one bad
    # byte for cp1252.)
    if non_ascii - invalid >= invalid:
        return lenient
    sample = data[:SAMPLE_BYTES]
    samples = {page: sample.decode(page, errors="replace") for page in _CYRILLIC_CODEPAGES}
    cyrillic = [page for page, text in samples.items() if _reads_as_cyrillic(text)]
    if cyrillic:
        best = max(cyrillic, key=lambda page: _cyrillic_score(samples[page]))
        return data.decode(best, errors="replace")
    # Neither UTF-8 nor Cyrillic: cp1252 is the legacy encoding of English news (quotes, dashes).
    return data.decode("cp1252", errors="replace")


def _decode_utf16_without_bom(data: bytes) -> str | None:
    """The text, when `data` reads as UTF-16 without a BOM; None when it does not."""
    units = len(data) // 2
    nul_low = data[0::2].count(0)
    nul_high = data[1::2].count(0)
    for codec, own_side, other_side in (
        ("utf-16-le", nul_high, nul_low),
        ("utf-16-be", nul_low, nul_high),
    ):
        # A rare character such as U+0100 puts a NUL on the other side too; binary does it often.
        if (
            len(data) % 2 == 0
            and own_side >= MIN_UTF16_NUL_SHARE * units
            and other_side <= 0.01 * own_side
        ):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                break
            if _reads_as_alphabetic(text):
                return text
            break
    return None


def _reads_as_alphabetic(text: str) -> bool:
    """Whether most characters are in the alphabetic scripts' blocks (Latin, Greek, Cyrillic,
    punctuation). Bytes that are not UTF-16 pair up into CJK-looking code points: ASCII text
    with a NUL byte every few characters reads as "桴楥..." (a UTF-16 file in Chinese or
    Japanese without a BOM is not taken for UTF-16 either; Parallax labels those "other")."""
    alphabetic = sum(1 for ch in text if ch <= "\u05ff" or "\u2000" <= ch <= "\u20ff")
    return alphabetic >= 0.9 * len(text)


def _cyrillic_score(text: str) -> float:
    score = 0.0
    previous_lower = False
    for ch in text:
        frequency = _LETTER_FREQUENCY.get(ch.lower())
        if "\u2500" <= ch <= "\u25ff":
            score -= _BOX_DRAWING_PENALTY
        if frequency is None:
            previous_lower = False
            continue
        score += frequency
        if previous_lower and ch.isupper():
            score -= _CASE_FLIP_PENALTY
        previous_lower = ch.islower()
    return score


def _reads_as_cyrillic(text: str) -> bool:
    """Most non-ASCII letters are Cyrillic, and few of them touch a Latin letter. (Letters
    only: in a one-line quote, «», — and … are a large share of the non-ASCII characters.)"""
    non_ascii = [i for i, ch in enumerate(text) if ord(ch) > 0x7F and ch.isalpha()]
    letters = [i for i in non_ascii if _is_cyrillic(text[i])]
    beside_latin = sum(
        1
        for i in letters
        if (i > 0 and _is_latin(text[i - 1])) or (i + 1 < len(text) and _is_latin(text[i + 1]))
    )
    return (
        bool(letters)
        and len(letters) >= 0.8 * len(non_ascii)
        and beside_latin <= 0.1 * len(letters)
    )


def _is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def _is_latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()
