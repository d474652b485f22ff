"""Keep the embedding model loaded between runs: a local server that encodes for `Embedder`.

Importing sentence-transformers (torch, transformers) and loading the model costs a run 3 to 4 s,
more than all the rest of a run that adds one article to 1,000 already embedded. The scheduled
deployment starts a fresh process for every flow run, so that cost would come back every time;
this process pays it once. A run whose `embed.server_socket` names this server's socket sends
its texts here, as long as the server embeds with the same model and settings; otherwise the
run loads the model itself. Both sides call the same `encode` on the same chunks, so the
vectors are the same.

    python -m pipeline.embed_server [--config config/scheduled.yaml]

One request per connection, over a Unix socket that only its owner can open. Connections are
served each in its own thread, so a client that connects and stays silent holds up no other;
each request must arrive within REQUEST_TIMEOUT_SECONDS and hold at most one client chunk of
texts (CHUNK_SENTENCES), so no request keeps the model busy for long after its client left.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import socketserver
import sys
import threading
from pathlib import Path

import numpy as np

from pipeline.config import SCHEDULED_CONFIG, ConfigError, load_config
from pipeline.embed import CHUNK_SENTENCES, Embedder, EmbedError, receive_message, send_message

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 10
# A chunk of CHUNK_SENTENCES texts of the longest sentence (600 characters, 4 UTF-8 bytes
# each at most), with room for the JSON around them.
MAX_REQUEST_BYTES = 2 * CHUNK_SENTENCES * 600 * 4


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
        if request.get("settings") != embedder.settings:
            error = f"this server embeds with {embedder.settings}, not {request.get('settings')}"
        elif not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            error = "texts: expected a list of strings"
        elif len(texts) > CHUNK_SENTENCES:
            error = f"texts: at most {CHUNK_SENTENCES} a request, got {len(texts)}"
        else:
            with self.server.model_lock:  # one encode at a time: the model uses every core
                vectors = embedder.encode_chunk(texts)
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            header = {"rows": vectors.shape[0], "dimension": vectors.shape[1]}
            send_message(self.request, header, vectors.tobytes())
            return
        send_message(self.request, {"error": error})


class EmbedServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Serves `embedder`'s vectors on `path`; the model is loaded before the first request."""

    daemon_threads = True  # a connection left hanging never keeps the process from stopping

    def __init__(self, path: Path, embedder: Embedder):
        self.embedder = embedder
        self.model_lock = threading.Lock()
        self.path = path
        if path.exists() or path.is_symlink():
            if answers(path):
                raise RuntimeError(f"an embedding server is already listening on {path}")
            path.unlink()  # left by a server that was killed
        embedder.encode_chunk(["The model is loaded before the socket opens."])
        path.parent.mkdir(parents=True, exist_ok=True)
        umask = os.umask(0o177)  # the socket is created owner-only, with no window in between
        try:
            super().__init__(str(path), _EncodeRequest)
        finally:
            os.umask(umask)

    def server_close(self) -> None:
        super().server_close()
        self.path.unlink(missing_ok=True)


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
        server = EmbedServer(config.embed.server_socket, Embedder(config.embed))
    except (ConfigError, EmbedError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # `stop` sends SIGTERM: leave serve_forever through SystemExit so the socket is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with server:  # server_close() removes the socket
        log.info("embedding with %s on %s", config.embed.model, config.embed.server_socket)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
