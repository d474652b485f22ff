"""Keep the embedding model and the language detector loaded between runs: a local server
that encodes for `Embedder` and gives lingua's confidences to language identification.

Importing sentence-transformers (torch, transformers) and loading the model costs a run 3 to 4 s,
more than all the rest of a run that adds one article to 1,000 already embedded; loading
lingua's language models for the new article's sentences costs it another 1 to 1.5 s. The
scheduled deployment starts a fresh process for every flow run, so those costs would come back
every time; this process pays them once. A run whose `embed.server_socket` names this server's
socket sends its texts here: to be encoded, as long as the server embeds with the same model
and settings; to have their languages weighed, as long as the server runs the same lingua.
Otherwise the run loads the model (or lingua's models) itself. Both sides call the same code on
the same texts, so the vectors are the same, and so are the languages.

    python -m pipeline.embed_server [--config config/scheduled.yaml]

One request per connection, over a Unix socket that only its owner can open. Connections are
served each in its own thread, so a client that connects and stays silent holds up no other,
and a connection silent for REQUEST_TIMEOUT_SECONDS is dropped; a request holds at most one
client chunk of texts (CHUNK_SENTENCES) of at most MAX_REQUEST_BYTES, so no request keeps the
server busy for long after its client left.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import socket
import socketserver
import stat
import sys
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import SCHEDULED_CONFIG, ConfigError, load_config
from pipeline.embed import (
    CHUNK_SENTENCES,
    Embedder,
    EmbedError,
    asking_server,
    receive_message,
    send_message,
)
from pipeline.langid import detection_codes, lingua_confidences

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 10
# A chunk of CHUNK_SENTENCES texts of the longest sentence (600 characters, 4 UTF-8 bytes
# each at most), with room for the JSON around them.
MAX_REQUEST_BYTES = 2 * CHUNK_SENTENCES * 600 * 4
# The texts of one request for confidences, in UTF-8 bytes: an article's whole text is one.
MAX_DETECT_BYTES = MAX_REQUEST_BYTES // 2


@functools.cache  # asked on every request, on both sides
def lingua_version() -> str:
    return metadata.version("lingua-language-detector")


class _EncodeRequest(socketserver.BaseRequestHandler):
    server: EmbedServer

    def handle(self) -> None:
        embedder = self.server.embedder
        self.request.settimeout(REQUEST_TIMEOUT_SECONDS)
        try:
            if not self.request.recv(1, socket.MSG_PEEK):
                return  # closed without a byte: a probe for a live server (answers())
            request = receive_message(self.request, MAX_REQUEST_BYTES)
        except (OSError, ValueError) as error:
            log.warning("unreadable request: %s", error)
            return
        texts = request.get("texts")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            reply = {"error": "texts: expected a list of strings"}
        elif len(texts) > CHUNK_SENTENCES:
            reply = {"error": f"texts: at most {CHUNK_SENTENCES} a request, got {len(texts)}"}
        elif "detect" in request:
            reply = self._confidences(request["detect"], request.get("lingua"), texts)
        elif request.get("settings") != embedder.settings:
            reply = {
                "error": f"this server embeds with {embedder.settings}, "
                f"not {request.get('settings')}"
            }
        else:
            with self.server.model_lock:  # one encode at a time: the model uses every core
                vectors = embedder.encode_chunk(texts)
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            header = {"rows": vectors.shape[0], "dimension": vectors.shape[1]}
            send_message(self.request, header, vectors.tobytes())
            return
        send_message(self.request, reply)

    def _confidences(self, codes: object, version: object, texts: list[str]) -> dict[str, Any]:
        """The reply to a request for lingua's confidences of `texts` over `codes`."""
        if version != lingua_version():
            return {"error": f"this server runs lingua {lingua_version()}, not {version}"}
        if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
            return {"error": "detect: expected a non-empty list of ISO 639-1 codes"}
        try:
            return {"confidences": lingua_confidences(tuple(codes), texts, preload=True)}
        except ValueError as error:  # a code lingua does not know
            return {"error": f"detect: {error}"}


class EmbedServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Serves `embedder`'s vectors, and lingua's confidences, on `path`. The model is loaded
    before the first request, and so are lingua's models for `languages` (detection_codes);
    those of other codes are loaded by the first request that asks for them."""

    daemon_threads = True  # a connection left hanging never keeps the process from stopping

    def __init__(self, path: Path, embedder: Embedder, languages: tuple[str, ...] = ()):
        self.embedder = embedder
        self.model_lock = threading.Lock()
        self.path = path
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):  # a user's file, never removed
                raise RuntimeError(f"{path} exists and is not a socket: choose another path")
            if answers(path):
                raise RuntimeError(f"an embedding server is already listening on {path}")
            path.unlink()  # left by a server that was killed
        embedder.encode_chunk(["The model is loaded before the socket opens."])
        if languages:
            lingua_confidences(detection_codes(languages), [], preload=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        umask = os.umask(0o177)  # the socket is created owner-only, with no window in between
        try:
            super().__init__(str(path), _EncodeRequest)
        finally:
            os.umask(umask)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone before its answer (a run stopped) is no fault of the server's: one
        line, not socketserver's traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError)):
            log.info("a client left before its answer (%s)", error)
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self.path.unlink(missing_ok=True)


class ServedConfidences:
    """lingua's confidences (pipeline.langid.Confidences) from the server on `path`; from lingua
    in this process when the server cannot answer (a warning, and this run stops asking)."""

    def __init__(self, path: Path):
        self.path = path
        self.use_server = True

    def __call__(self, codes: tuple[str, ...], texts: list[str]) -> list[dict[str, float]]:
        if self.use_server:
            try:
                return [values for batch in _batches(texts) for values in self._ask(codes, batch)]
            except (OSError, ValueError, KeyError, TypeError) as error:
                log.warning(
                    "embedding server %s not used for language identification (%s); "
                    "loading lingua's models in this run", self.path, error,
                )  # fmt: skip
                self.use_server = False
        return lingua_confidences(codes, texts)

    def _ask(self, codes: tuple[str, ...], texts: list[str]) -> list[dict[str, float]]:
        request = {"detect": list(codes), "lingua": lingua_version(), "texts": texts}
        with asking_server(self.path, request) as (reply, _):
            values = reply["confidences"]
        if len(values) != len(texts):
            raise ValueError(f"{len(values)} answers for {len(texts)} texts")
        return [{str(code): float(value) for code, value in row.items()} for row in values]


def _batches(texts: list[str]) -> Iterator[list[str]]:
    """`texts` in requests of at most CHUNK_SENTENCES texts and MAX_DETECT_BYTES (a longer
    text goes alone, and the server refuses it: ValueError then, before asking)."""
    batch: list[str] = []
    size = 0
    for text in texts:
        length = len(text.encode("utf-8"))
        if length > MAX_DETECT_BYTES:
            raise ValueError(f"a text of {length} bytes, over the limit of {MAX_DETECT_BYTES}")
        if batch and (len(batch) == CHUNK_SENTENCES or size + length > MAX_DETECT_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(text)
        size += length
    if batch:
        yield batch


def answers(path: Path) -> bool:
    """Whether an embedding server listens on the socket `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.embed_server", description=__doc__)
    parser.add_argument("--config", type=Path, default=SCHEDULED_CONFIG)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = load_config(args.config)
        if config.embed.server_socket is None:
            raise ConfigError(f"{args.config}: embed.server_socket is not set")
        server = EmbedServer(
            config.embed.server_socket,
            Embedder(config.embed, config.paths.cache_dir),
            config.langid.languages,
        )
    except (ConfigError, EmbedError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # `stop` sends SIGTERM: leave serve_forever through SystemExit so the socket is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with server:  # server_close() removes the socket
        log.info(
            "embedding with %s on %s, weighing languages with lingua %s, on %s",
            config.embed.model, server.embedder.backend, lingua_version(),
            config.embed.server_socket,
        )  # fmt: skip
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
