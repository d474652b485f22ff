"""Translate stage against raw CTranslate2, on a synthetic model of Argos's released shape.

Both sides get the same unique Russian sentences, the same model file and the same options.
The raw side is what a user of the library would write: SentencePiece-encode every sentence,
one `translate_batch` over all of them, decode. The pipeline side is `translate_sentences` with
a cold store in a temporary folder, so it also pays for hashing, caching and chunked progress.
Random weights rarely emit </s>, so every hypothesis runs to the length cap: both sides do
exactly the same decoding work. Both hand CTranslate2 length-sorted input: unsorted input makes
it break length ties differently, so a sentence lands in another batch, its GEMMs run with
other shapes, and a random-weight model (whose beam scores are near-ties) turns those last-bit
differences into different outputs; with the same batches the outputs are identical.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
from pathlib import Path

import ctranslate2

from benchmarks.common import Measurement, alternate, log, timed
from benchmarks.synthetic_corpus import _statement
from pipeline.config import TranslateConfig
from pipeline.records import Sentence
from pipeline.store import Store
from pipeline.translate import translate_sentences
from pipeline.translate.argos import CHUNK_SENTENCES, ArgosTranslator, DecodingOptions
from pipeline.translate.memory import TranslationMemory
from pipeline.translate.packages import find_package, install_file
from pipeline.translate.synthetic import ModelShape, build_argosmodel

DECODING_CAP = 32  # output tokens per sentence, on both sides


def install_base_models(packages_dir: Path, langs: tuple[str, ...] = ("ru", "uk")) -> None:
    """Build and install a Transformer-base int8 package per language (random weights)."""
    with tempfile.TemporaryDirectory() as workdir:
        for seed, lang in enumerate(langs):
            path = Path(workdir) / f"{lang}_en.argosmodel"
            build_argosmodel(path, lang, shape=ModelShape.argos_base(), seed=seed)
            install_file(path, packages_dir)


def russian_sentences(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    unique = dict.fromkeys(_statement(rng).text("ru") for _ in range(count * 2))
    return list(unique)[:count]


def _raw_translate(
    model_dir: Path, package, texts: list[str], options: DecodingOptions, chunk: int = 0
):
    """Raw library use: encode, sort by length, translate_batch, decode.

    One call over everything, or with `chunk`, one call per `chunk` sentences of the sorted list
    (the calls the stage makes).
    """
    translator = ctranslate2.Translator(
        str(model_dir),
        device=options.device,
        compute_type=options.compute_type,
        inter_threads=options.inter_threads,
        intra_threads=options.intra_threads,
    )
    tokens = [package.tokenizer.encode(text) for text in texts]
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
    english = [""] * len(texts)
    step = chunk or len(order)
    for start in range(0, len(order), step):
        indices = order[start : start + step]
        results = translator.translate_batch(
            [tokens[i] for i in indices],
            max_batch_size=options.batch_size,
            batch_type=options.batch_type,
            beam_size=options.beam_size,
            max_decoding_length=options.max_decoding_length,
            replace_unknowns=True,
            length_penalty=0.2,
        )
        for i, result in zip(indices, results, strict=True):
            english[i] = package.tokenizer.decode(result.hypotheses[0]).strip()
    return english


def _pipeline_translate(package, texts: list[str], config: TranslateConfig) -> list[str]:
    sentences = [Sentence("bench", "bench", i, text, lang="ru") for i, text in enumerate(texts)]
    translator = ArgosTranslator(package, DecodingOptions.from_config(config))
    with tempfile.TemporaryDirectory() as cache_dir:
        store = Store(Path(cache_dir))
        try:
            done, report = translate_sentences(
                sentences, TranslationMemory(), {"ru": translator}, store
            )
        finally:
            store.close()
    assert report.mt_new == len(set(texts)), report
    return [s.english for s in done]


def _sentence_loop(model_dir: Path, package, texts: list[str], options: DecodingOptions) -> float:
    """Seconds per sentence when translate_batch is called once per sentence."""
    translator = ctranslate2.Translator(
        str(model_dir), compute_type=options.compute_type, intra_threads=options.intra_threads
    )
    _, seconds = timed(
        lambda: [
            translator.translate_batch(
                [package.tokenizer.encode(text)],
                beam_size=options.beam_size,
                max_decoding_length=options.max_decoding_length,
                replace_unknowns=True,
                length_penalty=0.2,
            )
            for text in texts
        ]
    )
    return seconds / len(texts)


def run(quick: bool, workdir: Path) -> list[Measurement]:
    count = 128 if quick else 1024
    packages_dir = workdir / "packages"
    if find_package(packages_dir, "ru", "en") is None:
        log.info("building Transformer-base synthetic packages (ru, uk)")
        install_base_models(packages_dir)
    package = find_package(packages_dir, "ru", "en")
    model_dir = Path(package.package_path) / "model"
    texts = russian_sentences(count)
    config = TranslateConfig(max_decoding_length=DECODING_CAP)
    options = DecodingOptions.from_config(config)
    shape = ModelShape.argos_base()
    about = (
        f"{len(texts)} unique ru sentences, Transformer-base {shape.layers}+{shape.layers} "
        f"layers d{shape.d_model} vocab~{shape.vocab_size // 1000}k int8, beam {options.beam_size}"
        f", max_decoding_length {DECODING_CAP}, batch {options.batch_size} {options.batch_type}"
    )

    log.info("translate: pipeline stage and raw CTranslate2 in turns, %d sentences", len(texts))
    ours, raw, turns = alternate(
        lambda: _pipeline_translate(package, texts, config),
        lambda: _raw_translate(model_dir, package, texts, options),
    )
    ours_s = turns.value
    differing = sum(a != b for a, b in zip(raw, ours, strict=True))
    identity = f"outputs identical: {differing == 0} ({differing} differ)"
    if len(texts) > CHUNK_SENTENCES:
        # The stage hands CTranslate2 one chunk at a time (so a killed run resumes to the same
        # output); CTranslate2 pads each batch to its longest sentence, so other batches mean
        # other padding, which random weights turn into other words.
        chunked = _raw_translate(model_dir, package, texts, options, CHUNK_SENTENCES)
        same_calls = sum(a != b for a, b in zip(chunked, ours, strict=True))
        identity = (
            f"outputs identical to raw translate_batch over the same {CHUNK_SENTENCES}-sentence "
            f"chunks: {same_calls == 0} ({same_calls} differ); to one call over all: "
            f"{differing} differ (other batches, other padding)"
        )
    results = [
        Measurement(
            "translate_vs_raw_ct2", len(texts) / ours_s, len(texts) / turns.baseline,
            turns.speedup, ">= 0.9", "sentences/s",
            f"{about}; {identity}; timed against one call over all, {turns.describe()}; both "
            f"sides include model load and SentencePiece; pipeline adds hashing and a cold "
            f"SQLite cache",
        )
    ]  # fmt: skip

    loop_texts = texts[: 32 if quick else 128]
    log.info("translate: one sentence at a time over %d sentences", len(loop_texts))
    per_sentence = _sentence_loop(model_dir, package, loop_texts, options)
    results.append(
        Measurement(
            "translate_vs_sentence_loop", len(texts) / ours_s, 1 / per_sentence,
            per_sentence * len(texts) / ours_s, ">= 1", "sentences/s",
            f"speedup of the batched stage over translate_batch called per sentence "
            f"(loop timed on {len(loop_texts)} of the sentences)",
        )
    )  # fmt: skip

    # Speed levers, each against the default settings on the same sentences. The defaults are
    # 2 translators x 1 thread; CTranslate2's own default is 1 translator on every core.
    # --quick: no levers (its 10 minutes).
    levers = {} if quick else {
        "inter_threads=1,intra_threads=0": {"inter_threads": 1, "intra_threads": 0},
        "batch_type=tokens,batch_size=1024": {"batch_type": "tokens", "batch_size": 1024},
    }  # fmt: skip
    for label, change in levers.items():
        lever = dataclasses.replace(config, **change)
        log.info("translate lever %s, in turns with the defaults", label)
        english, _, lever_turns = alternate(
            lambda lever=lever: _pipeline_translate(package, texts, lever),
            lambda: _pipeline_translate(package, texts, config),
        )
        differ = sum(a != b for a, b in zip(english, ours, strict=True))
        results.append(
            Measurement(
                f"translate_lever[{label}]", len(texts) / lever_turns.value,
                len(texts) / lever_turns.baseline, lever_turns.speedup, "", "sentences/s",
                f"pipeline stage with {label} vs defaults, {lever_turns.describe()}; {differ} "
                f"outputs differ from defaults",
            )
        )  # fmt: skip
    return results
