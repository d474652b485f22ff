"""Identify the language of each sentence (not each article): a configured code, or "other".

Detection is lingua's (pemistahl/lingua-py) confidence values, weighed with evidence lingua
does not use on its own:
- links, handles and hashtags are removed first: `https://t.me/example_news` says nothing
  about the sentence around it;
- a quoted phrase in another language ("Protesters chanted «Нет войне» outside") is left out
  when enough words stand outside the quotes;
- the alphabet: a Cyrillic sentence with a letter that a language lacks (ї, є, ґ for all but
  Ukrainian; ў for all but Belarusian; ы, э for Ukrainian) is not in that language;
- the article's own language, detected on its whole text, wins for a sentence unless another
  language is clearly more likely; in Latin script, more likely on the sentence's words
  without capitals too, since names are spelled after their own language. A short line full
  of names ("Kuleba met Blinken in Brussels.") reads as Dutch on its own, and as English
  inside an English article.
Languages outside the configured ones are detected too, so that a Belarusian, Bulgarian or
Serbian sentence comes out "other" instead of being forced into Russian or Ukrainian.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections import defaultdict
from collections.abc import Callable

from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder

from pipeline.records import Sentence

OTHER = "other"

# Languages the detector also knows, so that their sentences come out "other" instead of
# being forced into the closest configured language: Russian, Ukrainian and English themselves
# (a config without one of them), their Cyrillic and Latin neighbours, and the languages most
# often quoted in such news.
FALLBACK_CODES = (
    "en", "ru", "uk", "be", "bg", "sr", "mk",
    "pl", "cs", "sk", "hr", "sl", "de", "fr", "es", "it", "pt", "nl", "tr",
    "zh", "ja", "ko", "ar",
)  # fmt: skip

# Another language overrides the article's language only at this confidence or above (the
# confidences of a sentence's candidate languages add up to 1). Set on tests/gold/langid.tsv,
# then lowered from 0.8 when the held-out set showed a Bulgarian line in a Russian article at
# 0.69 (a look-alike must never reach a Russian or Ukrainian model).
OVERRIDE_CONFIDENCE = 0.65
# Quoted phrases are left out when at least this many words remain outside them.
MIN_UNQUOTED_WORDS = 3

# The languages lingua knows that are written in Cyrillic.
CYRILLIC_CODES = frozenset({"ru", "uk", "be", "bg", "sr", "mk", "kk", "mn"})
_BASE_CYRILLIC = "абвгдежзийклмнопрстуфхцчшщъыьэюя"
# The letters each Cyrillic language writes with (lowercase; the apostrophe is Ukrainian's).
ALPHABETS = {
    "ru": set(_BASE_CYRILLIC + "ё"),
    "uk": set(_BASE_CYRILLIC) - set("ъыэ") | set("іїєґ"),
    "be": set(_BASE_CYRILLIC) - set("ищъ") | set("іўё"),
    "bg": set(_BASE_CYRILLIC) - set("ыэ"),
    "sr": set("абвгдђежзијклљмнњопрстћуфхцчџш"),
    "mk": set("абвгдѓежзѕијклљмнњопрстќуфхцчџш"),
}

_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LINK = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+\.[\w.-]+|[@#]\w+")
_QUOTED = re.compile(r"«[^«»]*»|“[^“”]*”|„[^„“”]*[“”]|\"[^\"]*\"")


# lingua's confidence values of each text over the languages `codes` (ISO 639-1), as
# {code: value}: computed in this process (lingua_confidences) or by the long-lived server
# that holds lingua's models loaded (pipeline/embed_server.py).
Confidences = Callable[[tuple[str, ...], list[str]], list[dict[str, float]]]


def detection_codes(languages: tuple[str, ...]) -> tuple[str, ...]:
    """The languages the detector weighs: the configured ones, then FALLBACK_CODES."""
    return tuple(dict.fromkeys(languages + FALLBACK_CODES))


@functools.lru_cache(maxsize=4)
def detector(codes: tuple[str, ...], preload: bool = False) -> LanguageDetector:
    """lingua's detector over `codes`. Without `preload`, each language's models are loaded
    when a text first needs them (about 1.5 s for the Latin-script ones, in a fresh process);
    with it, all are loaded now (3 to 4 s, ~600 MB for detection_codes(("en", "ru", "uk"))).
    Raises ValueError for a code lingua does not know."""
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(
        *(IsoCode639_1.from_str(code) for code in codes)
    )
    return (builder.with_preloaded_language_models() if preload else builder).build()


def lingua_confidences(
    codes: tuple[str, ...], texts: list[str], preload: bool = False
) -> list[dict[str, float]]:
    """One {code: confidence} per text, over `codes`, from lingua in this process (see
    `detector` for `preload`). The values of a text sum to 1; they may differ from call to
    call in the last bit (lingua's own summation order), never in which language leads."""
    values = detector(codes, preload).compute_language_confidence_values_in_parallel(texts)
    return [{v.language.iso_code_639_1.name.lower(): v.value for v in row} for row in values]


def detection_text(text: str) -> str:
    """What is detected: `text` without links, handles, hashtags and e-mail addresses, and
    without its quoted phrases when MIN_UNQUOTED_WORDS words remain outside them."""
    text = _LINK.sub(" ", text)
    unquoted = _QUOTED.sub(" ", text)
    return unquoted if len(_WORD.findall(unquoted)) >= MIN_UNQUOTED_WORDS else text


def candidate_confidences(text: str, values: dict[str, float]) -> dict[str, float]:
    """lingua's confidences restricted to the languages `text`'s letters allow, summing to 1.

    A text mostly in Cyrillic letters is in a Cyrillic language whose alphabet holds each of
    its Cyrillic letters; a text mostly in other letters is in a non-Cyrillic language.
    """
    cyrillic = {letter for letter in _LETTER.findall(text.lower()) if _CYRILLIC.match(letter)}
    mostly_cyrillic = _mostly_cyrillic(text)
    allowed = {}
    for code, value in values.items():
        alphabet = ALPHABETS.get(code)
        fits_script = (code in CYRILLIC_CODES) == mostly_cyrillic
        if fits_script and (alphabet is None or cyrillic <= alphabet):
            allowed[code] = value
    total = sum(allowed.values())
    # lingua has no opinion on a one-word reply ("Да.", "Так."): the letters still allow some
    # languages, and the article's language among them decides (decide()).
    return {code: value / total if total else 0.0 for code, value in allowed.items()}


def decide(
    confidences: dict[str, float],
    languages: tuple[str, ...],
    article: str,
    without_names: dict[str, float] | None = None,
) -> str:
    """One of `languages` or OTHER: the most likely language, unless the article's language
    (`article`) is a candidate and no other language reaches OVERRIDE_CONFIDENCE, both in
    `confidences` and, when given, in `without_names` (the confidences of the sentence's
    words that do not start with a capital)."""
    if not confidences:
        return OTHER
    if article in languages and article in confidences:

        def overridden(values: dict[str, float]) -> bool:
            others = max((v for code, v in values.items() if code != article), default=0.0)
            return others >= OVERRIDE_CONFIDENCE

        if not overridden(confidences) or (
            without_names is not None and article in without_names and not overridden(without_names)
        ):
            return article
    best = max(confidences, key=confidences.__getitem__)
    return best if best in languages and confidences[best] > 0 else OTHER


def detect_languages(
    texts: list[str],
    languages: tuple[str, ...],
    articles: list[str] | None = None,
    confidences: Confidences = lingua_confidences,
) -> list[str]:
    """One code per text: one of `languages`, or "other" (no letters, or another language).

    `articles`, when given, holds the language of each text's article (as article_language()
    gives it, or OTHER); it decides whenever the text does not clearly say otherwise.
    `confidences`: where lingua's values come from (this process, or the server).
    """
    codes = detection_codes(languages)
    cleaned = [detection_text(text) for text in texts]
    all_values = confidences(codes, cleaned) if cleaned else []
    # Latin-script sentences are judged again without their names, where there is an article
    # language for them to override.
    nameless = {
        index: words
        for index, text in enumerate(cleaned)
        if articles and articles[index] in languages and not _mostly_cyrillic(text)
        if (words := _without_names(text))
    }
    nameless_values = dict(
        zip(nameless, confidences(codes, list(nameless.values())) if nameless else [], strict=True)
    )
    codes = []
    for index, (text, values) in enumerate(zip(cleaned, all_values, strict=True)):
        if _LETTER.search(text) is None:
            codes.append(OTHER)
            continue
        article = articles[index] if articles else OTHER
        without_names = (
            candidate_confidences(nameless[index], nameless_values[index])
            if index in nameless
            else None
        )
        codes.append(decide(candidate_confidences(text, values), languages, article, without_names))
    return codes


def _mostly_cyrillic(text: str) -> bool:
    letters = _LETTER.findall(text)
    return 2 * sum(1 for letter in letters if _CYRILLIC.match(letter)) > len(letters)


def _without_names(text: str) -> str:
    """The words of `text` that do not start with a capital, or "" when fewer than two."""
    words = [word for word in _WORD.findall(text) if not word[0].isupper()]
    return " ".join(words) if len(words) >= 2 else ""


def label_sentences(
    sentences: list[Sentence],
    languages: tuple[str, ...],
    confidences: Confidences = lingua_confidences,
) -> list[Sentence]:
    """The sentences with `lang` set, each judged with its article's language as evidence.

    The article's language is detected on all its sentences together (long text, where lingua
    is reliable); an article in a language outside `languages` gives no evidence.
    `confidences`: as detect_languages.
    """
    texts_of: dict[str, list[str]] = defaultdict(list)
    for sentence in sentences:
        texts_of[sentence.article_id].append(sentence.text)
    ids = list(texts_of)
    article_codes = detect_languages(
        [" ".join(texts_of[i]) for i in ids], languages, confidences=confidences
    )
    language_of = dict(zip(ids, article_codes, strict=True))
    codes = detect_languages(
        [s.text for s in sentences],
        languages,
        [language_of[s.article_id] for s in sentences],
        confidences,
    )
    return [dataclasses.replace(s, lang=code) for s, code in zip(sentences, codes, strict=True)]
