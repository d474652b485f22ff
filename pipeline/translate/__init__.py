"""Translate stage: give every sentence an English side, from the original, a TM, MT, or none.

Order of sources: an English sentence is its own English; otherwise the translation memory;
otherwise the installed Argos package for its language (cached by package, options and text);
otherwise the sentence is kept, marked `skipped`, and reported with the command that fixes it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.chunks import ChunkError, MapChunks
from pipeline.config import TranslateConfig
from pipeline.langid import OTHER
from pipeline.normalise import matching_key
from pipeline.records import MissingModel, Sentence, text_hash
from pipeline.store import Store
from pipeline.translate.argos import ArgosTranslator, DecodingOptions
from pipeline.translate.memory import TranslationMemory
from pipeline.translate.packages import default_packages_dir, find_package, install_command

Progress = Callable[[str, int], Callable[[int], None]]

log = logging.getLogger(__name__)


@dataclass
class TranslateReport:
    by_origin: Counter = field(default_factory=Counter)
    mt_new: int = 0  # unique sentences that went through a model this run
    mt_cached: int = 0  # unique sentences whose translation came from the cache
    missing: list[MissingModel] = field(default_factory=list)
    packages: dict[str, str] = field(default_factory=dict)  # lang -> package id and weights


def packages_dir(config: TranslateConfig) -> Path:
    return config.packages_dir or default_packages_dir()


def load_translators(config: TranslateConfig, languages: set[str]) -> dict[str, ArgosTranslator]:
    """One translator per language that has an installed package to the target language."""
    options = DecodingOptions.from_config(config)
    folder = packages_dir(config)
    translators = {}
    for lang in sorted(languages):
        package = find_package(folder, lang, config.target)
        if package is not None:
            translators[lang] = ArgosTranslator(package, options)
    return translators


def missing_models(
    sentences: list[Sentence],
    memory: TranslationMemory,
    translators: dict[str, ArgosTranslator],
    target: str,
) -> list[MissingModel]:
    """Languages with sentences that neither the TM nor an installed package can translate."""
    left = Counter(
        s.lang
        for s in sentences
        if s.lang not in (target, OTHER)
        and s.lang not in translators
        and memory.lookup(s.text) is None
    )
    return [
        MissingModel(lang, count, install_command(lang)) for lang, count in sorted(left.items())
    ]


def translate_sentences(
    sentences: list[Sentence],
    memory: TranslationMemory,
    translators: dict[str, ArgosTranslator],
    store: Store,
    target: str = "en",
    progress: Progress | None = None,
    map_chunks: MapChunks | None = None,
) -> tuple[list[Sentence], TranslateReport]:
    """Fill `english` and `english_origin` on every sentence; never drops one.

    A package that fails (a damaged model or tokenizer) leaves its language's sentences
    `skipped` and reported as missing, like a package that is not installed. `map_chunks` runs
    the model's chunks elsewhere (pipeline/chunks.py); a chunk failed there raises ChunkError.
    """
    report = TranslateReport()
    english_of: dict[int, tuple[str, str]] = {}
    pending: dict[str, dict[str, list[int]]] = {}  # lang -> normalised text -> sentence indices
    for index, sentence in enumerate(sentences):
        if sentence.lang == target:
            english_of[index] = (sentence.text, "original")
        elif (from_memory := memory.lookup(sentence.text)) is not None:
            english_of[index] = (from_memory, "tm")
        elif sentence.lang in translators:
            same_lang = pending.setdefault(sentence.lang, {})
            same_lang.setdefault(matching_key(sentence.text), []).append(index)
        else:
            english_of[index] = ("", "skipped")

    failed: set[str] = set()
    for lang, by_text in pending.items():
        translator = translators[lang]
        try:
            translations = _translate_cached(
                translator, list(by_text), store, report, progress, map_chunks
            )
        except ChunkError:
            raise
        except Exception as error:  # a damaged package costs its language, not the run
            log.warning(
                "the %s→%s package in %s fails (%r): its sentences are skipped; install it again",
                lang, target, translator.package.package_path, error,
            )  # fmt: skip
            failed.add(lang)
            for indices in by_text.values():
                english_of.update((index, ("", "skipped")) for index in indices)
            continue
        report.packages[lang] = translator.cache_key
        for text, english in translations.items():
            for index in by_text[text]:
                english_of[index] = (english, "mt")
    working = {lang: t for lang, t in translators.items() if lang not in failed}

    other = sum(
        1
        for i, (_, origin) in english_of.items()
        if origin == "skipped" and sentences[i].lang == OTHER
    )
    unsupported = [MissingModel(OTHER, other, "")] if other else []
    report.missing = sorted(
        [
            dataclasses.replace(m, failed_package=str(translators[m.lang].package.package_path))
            if m.lang in failed
            else m
            for m in missing_models(sentences, memory, working, target)
        ]
        + unsupported,
        key=lambda m: m.lang,
    )
    translated = []
    for index, sentence in enumerate(sentences):
        english, origin = english_of[index]
        report.by_origin[origin] += 1
        translated.append(dataclasses.replace(sentence, english=english, english_origin=origin))
    return translated, report


def _translate_cached(
    translator: ArgosTranslator,
    texts: list[str],
    store: Store,
    report: TranslateReport,
    progress: Progress | None,
    map_chunks: MapChunks | None,
) -> dict[str, str]:
    """Translate unique texts, taking what the store has and storing what is new."""
    key = translator.cache_key
    hashes = {text: text_hash(text) for text in texts}
    cached = store.get_translations(key, hashes.values())
    result = {text: cached[h] for text, h in hashes.items() if h in cached}
    todo = [text for text in texts if text not in result]
    report.mt_cached += len(result)
    if todo:
        advance = (
            progress(f"translate {translator.package.from_code}", len(todo)) if progress else None
        )

        def store_chunk(indices: list[int], english: list[str]) -> None:
            # Stored chunk by chunk: a run killed mid-translation keeps what it finished.
            store.put_translations(
                key, [(hashes[todo[i]], e) for i, e in zip(indices, english, strict=True)]
            )
            report.mt_new += len(indices)  # counted as done: a package that fails did no work
            if advance:
                advance(len(indices))

        english = translator.translate(todo, on_chunk=store_chunk, map_chunks=map_chunks)
        result.update(zip(todo, english, strict=True))
    return result
