"""Identify the language of each sentence (not each article): a configured code, or "other"."""

from __future__ import annotations

import dataclasses
import functools
import re

from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder

from pipeline.records import Sentence

OTHER = "other"

# Languages the detector also knows, so that a German or Chinese sentence comes out "other"
# instead of being forced into the closest configured language. Deliberately no Cyrillic
# neighbours (Bulgarian, Belarusian, Serbian): on short news lines they steal Russian and
# Ukrainian sentences, and this tool is for those two.
FALLBACK_CODES = ("de", "fr", "es", "it", "pt", "nl", "pl", "tr", "zh", "ja", "ko", "ar")

_LETTER = re.compile(r"[^\W\d_]")


@functools.lru_cache(maxsize=4)
def _detector(languages: tuple[str, ...]) -> LanguageDetector:
    codes = dict.fromkeys(languages + FALLBACK_CODES)
    iso_codes = [IsoCode639_1.from_str(code) for code in codes]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*iso_codes).build()


def detect_languages(texts: list[str], languages: tuple[str, ...]) -> list[str]:
    """One code per text: one of `languages`, or "other" (no letters, or another language)."""
    detector = _detector(tuple(languages))
    detected = detector.detect_languages_in_parallel_of(texts)
    codes = []
    for text, language in zip(texts, detected, strict=True):
        code = language.iso_code_639_1.name.lower() if language is not None else OTHER
        codes.append(code if code in languages and _LETTER.search(text) else OTHER)
    return codes


def label_sentences(sentences: list[Sentence], languages: tuple[str, ...]) -> list[Sentence]:
    """The sentences with `lang` set."""
    codes = detect_languages([s.text for s in sentences], languages)
    return [dataclasses.replace(s, lang=code) for s, code in zip(sentences, codes, strict=True)]
