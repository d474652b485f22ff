"""Machine translation through an installed Argos package's CTranslate2 and SentencePiece models.

argostranslate's own `translate()` splits, batches and decodes one paragraph at a time and
fetches a sentence splitter from the network. Here sentences arrive already split, so all
sentences of a language, across the corpus, go through the model in length-sorted batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
from argostranslate.package import Package

from pipeline.chunks import ChunkError, MapChunks
from pipeline.config import TranslateConfig
from pipeline.store import file_fingerprint

# Sentences handed to CTranslate2 per call: enough for its own batching to fill batches,
# few enough that progress moves.
CHUNK_SENTENCES = 256


@dataclass(frozen=True)
class DecodingOptions:
    beam_size: int
    batch_size: int
    batch_type: str
    max_decoding_length: int
    compute_type: str
    device: str
    inter_threads: int
    intra_threads: int

    @classmethod
    def from_config(cls, config: TranslateConfig) -> DecodingOptions:
        return cls(
            beam_size=config.beam_size,
            batch_size=config.batch_size,
            batch_type=config.batch_type,
            max_decoding_length=config.max_decoding_length,
            compute_type=config.compute_type,
            device=config.device,
            inter_threads=config.inter_threads,
            intra_threads=config.intra_threads,
        )

    def output_key(self) -> str:
        """The options that change the output; batch and thread settings do not."""
        return (
            f"beam={self.beam_size};maxlen={self.max_decoding_length};"
            f"compute={self.compute_type};device={self.device}"
        )


class ArgosTranslator:
    """Translates lists of sentences with one installed package. Loads the model on first use."""

    def __init__(self, package: Package, options: DecodingOptions):
        self.package = package
        self.options = options
        self._translator: ctranslate2.Translator | None = None

    @property
    def package_id(self) -> str:
        p = self.package
        return f"argos:{p.from_code}-{p.to_code}@{p.package_version}"

    @property
    def cache_key(self) -> str:
        try:
            weights = file_fingerprint(Path(self.package.package_path) / "model" / "model.bin")
        except OSError:
            # Its model file is gone or unreadable: translate() fails and the stage names the
            # package; this key matches no cached work.
            weights = "unreadable"
        return f"{self.package_id}#{weights};{self.options.output_key()}"

    def _model(self) -> ctranslate2.Translator:
        if self._translator is None:
            self._translator = ctranslate2.Translator(
                str(Path(self.package.package_path) / "model"),
                device=self.options.device,
                compute_type=self.options.compute_type,
                inter_threads=self.options.inter_threads,
                intra_threads=self.options.intra_threads,
            )
        return self._translator

    def translate(
        self,
        sentences: list[str],
        on_chunk: Callable[[list[int], list[str]], None] | None = None,
        map_chunks: MapChunks | None = None,
    ) -> list[str]:
        """English for each sentence, in input order.

        `on_chunk(indices, english)` is called as each chunk of sentences is done, so a caller
        can store finished work (and show progress) before the whole list is through.
        `map_chunks` (pipeline/chunks.py) runs the chunks elsewhere, on workers that load this
        package from its path; None runs them here. Raises ChunkError where a worker failed.
        """
        tokenizer = self.package.tokenizer
        tokenized = [tokenizer.encode(sentence) for sentence in sentences]
        # Length-sorted order keeps padding low inside each batch.
        order = sorted(range(len(tokenized)), key=lambda i: len(tokenized[i]))
        chunks = [
            order[start : start + CHUNK_SENTENCES]
            for start in range(0, len(order), CHUNK_SENTENCES)
        ]
        batches = [[tokenized[i] for i in indices] for indices in chunks]
        if map_chunks is None:
            done = map(self.translate_tokens, batches)
        else:
            spec = (str(self.package.package_path), self.options, self.cache_key)
            done = map_chunks(
                f"translate {self.package.from_code}", translate_on_worker, spec, batches
            )
        english: list[str] = [""] * len(sentences)
        for indices, batch in zip(chunks, done, strict=True):
            for index, text in zip(indices, batch, strict=True):
                english[index] = text
            if on_chunk:
                on_chunk(indices, batch)
        return english

    def translate_tokens(self, batch: list[list[str]]) -> list[str]:
        """The English of one batch of tokenised sentences (one CTranslate2 call)."""
        return [self._detokenize(tokens) for tokens in self._translate_tokens(batch)]

    def _translate_tokens(self, batch: list[list[str]]) -> list[list[str]]:
        prefix = self.package.target_prefix
        results = self._model().translate_batch(
            batch,
            target_prefix=[[prefix]] * len(batch) if prefix else None,
            max_batch_size=self.options.batch_size,
            batch_type=self.options.batch_type,
            beam_size=self.options.beam_size,
            max_decoding_length=self.options.max_decoding_length,
            # Argos's decoding settings, so output matches its own translate().
            replace_unknowns=True,
            length_penalty=0.2,
        )
        return [result.hypotheses[0] for result in results]

    def _detokenize(self, tokens: list[str]) -> str:
        text = self.package.tokenizer.decode(tokens)
        prefix = self.package.target_prefix
        if prefix and text.startswith(prefix):
            text = text[len(prefix) :]
        return text.strip()


@functools.lru_cache(maxsize=4)
def _worker_translator(package_path: str, options: DecodingOptions) -> ArgosTranslator:
    return ArgosTranslator(Package(Path(package_path)), options)


def translate_on_worker(
    spec: tuple[str, DecodingOptions, str], chunk: list[list[str]]
) -> list[str]:
    """A worker's `translate_tokens` (pipeline/chunks.py): `spec` is (package folder, decoding
    options, the run's cache key). The package is loaded once per worker process; ChunkError
    when the worker's package is not the run's (other weights at that path)."""
    package_path, options, cache_key = spec
    translator = _worker_translator(package_path, options)
    if translator.cache_key != cache_key:
        raise ChunkError(
            f"the package at {package_path} on this worker is {translator.cache_key}, "
            f"not the run's {cache_key}"
        )
    return translator.translate_tokens(chunk)
