"""The embedding server: a run that uses it gets the vectors (and the languages) it would have
computed itself, without loading the model (or lingua's models), and falls back to loading them
whenever the server cannot serve."""

import csv
import dataclasses
import logging
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from prefect_server import PROBLEM

from pipeline import embed_server
from pipeline.config import EmbedConfig
from pipeline.embed import Embedder
from pipeline.embed_server import EmbedServer, ServedConfidences
from pipeline.langid import detect_languages, detection_codes, lingua_confidences

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "Rescuers evacuated 40 people from Kherson on Monday.",
    "The governor said the bridge near Odesa may collapse.",
    "Rescuers evacuated 40 people from Kherson on Monday.",  # a repeat gets the same vector
    "Доктора перевезли пацієнтів.",
]
LANGS = ("en", "ru", "uk")


def gold_languages(confidences) -> list[str]:
    """The languages of tests/gold/langid.tsv's sentences (in en, ru, uk and look-alikes),
    each in its article's language, with lingua's values from `confidences`."""
    path = PROJECT_ROOT / "tests" / "gold" / "langid.tsv"
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    articles = [row["article_lang"] if row["article_lang"] in LANGS else "other" for row in rows]
    return detect_languages([row["text"] for row in rows], LANGS, articles, confidences)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server on a real socket, in a thread of this process; yields its config."""
    config = EmbedConfig(server_socket=tmp_path_factory.mktemp("embedder") / "embedder.sock")
    server = EmbedServer(config.server_socket, Embedder(config))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield config
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_run_gets_the_vectors_from_the_server_without_loading_the_model(served):
    client = Embedder(served)
    vectors = client.encode(TEXTS)
    assert client._model is None  # the client process never imported the model
    local = Embedder(dataclasses.replace(served, server_socket=None)).encode(TEXTS)
    np.testing.assert_array_equal(vectors, local)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)


def test_the_socket_is_open_to_its_owner_only(served):
    mode = os.stat(served.server_socket).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_a_server_with_other_settings_is_not_used(served, caplog):
    other = dataclasses.replace(served, batch_size=served.batch_size + 1)
    client = Embedder(other)
    with caplog.at_level(logging.WARNING, logger="pipeline.embed"):
        vectors = client.encode(TEXTS[:2])
    assert client._model is not None
    assert "batch_size" in caplog.text and "loading the model in this run" in caplog.text
    np.testing.assert_array_equal(vectors, client.encode_chunk(TEXTS[:2]))


def test_no_server_on_the_socket_means_the_run_loads_the_model(tmp_path, caplog):
    client = Embedder(EmbedConfig(server_socket=tmp_path / "nobody.sock"))
    with caplog.at_level(logging.WARNING, logger="pipeline.embed"):
        vectors = client.encode(TEXTS[:1])
        client.encode(TEXTS[1:2])  # a later stage of the same run asks no more: one warning
    assert str(tmp_path / "nobody.sock") in caplog.text
    assert len(caplog.records) == 1
    assert client._model is not None and vectors.shape == (1, 384)


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_path_that_is_no_socket_is_refused_and_left_as_it_is(tmp_path, kind):
    path = tmp_path / "embedder.sock"
    if kind == "file":
        path.write_text("the user's notes", encoding="utf-8")
    else:
        path.mkdir()
    with pytest.raises(RuntimeError, match="exists and is not a socket"):
        EmbedServer(path, Embedder(EmbedConfig(server_socket=path)))
    assert (
        path.read_text(encoding="utf-8") == "the user's notes" if kind == "file" else path.is_dir()
    )


def test_a_client_gone_before_its_answer_is_one_line_not_a_traceback(served, caplog, capfd):
    from pipeline.embed import send_message

    with caplog.at_level(logging.INFO, logger="pipeline.embed_server"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(served.server_socket))
            send_message(client, {"detect": list(LANGS), "lingua": embed_server.lingua_version(),
                                  "texts": TEXTS * 200})  # fmt: skip
        deadline = time.monotonic() + 20
        while "left before its answer" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
    assert "left before its answer" in caplog.text
    assert "Traceback" not in capfd.readouterr().err


def test_a_run_gets_the_languages_from_the_server_without_loading_lingua(
    served, monkeypatch, caplog
):
    asked = []  # which side computed each set of confidences: the server preloads, a run not

    def recorded(codes, texts, preload=False):
        asked.append(preload)
        return lingua_confidences(codes, texts, preload)

    monkeypatch.setattr(embed_server, "lingua_confidences", recorded)
    with caplog.at_level(logging.WARNING):
        served_languages = gold_languages(ServedConfidences(served.server_socket))
    assert asked and all(asked) and not caplog.text
    assert served_languages == gold_languages(lingua_confidences)


def test_a_server_with_another_lingua_refuses_to_weigh_languages(served):
    from pipeline.embed import receive_message, send_message

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(served.server_socket))
        send_message(client, {"detect": list(LANGS), "lingua": "0.0.1", "texts": ["Hello."]})
        answer = receive_message(client)
    assert answer["error"] == f"this server runs lingua {embed_server.lingua_version()}, not 0.0.1"


def test_without_a_server_the_run_weighs_languages_itself_and_stops_asking(tmp_path, caplog):
    confidences = ServedConfidences(tmp_path / "nobody.sock")
    with caplog.at_level(logging.WARNING, logger="pipeline.embed_server"):
        values = confidences(detection_codes(LANGS), TEXTS[:2])
    assert "nobody.sock" in caplog.text and "loading lingua's models" in caplog.text
    assert not confidences.use_server
    assert [max(v, key=v.get) for v in values] == ["en", "en"]


def test_confidence_requests_stay_under_the_servers_limits():
    texts = ["ы" * 1000] * 3000  # 2,000 bytes each
    batches = list(embed_server._batches(texts))
    assert [text for batch in batches for text in batch] == texts
    assert all(len(b) <= embed_server.CHUNK_SENTENCES for b in batches)
    assert all(sum(len(t.encode()) for t in b) <= embed_server.MAX_DETECT_BYTES for b in batches)
    with pytest.raises(ValueError, match="over the limit"):
        list(embed_server._batches(["x" * (embed_server.MAX_DETECT_BYTES + 1)]))


def test_a_second_server_on_a_live_socket_is_refused(served):
    with pytest.raises(RuntimeError, match="already listening"):
        EmbedServer(served.server_socket, Embedder(served))


def test_a_socket_left_by_a_killed_server_is_replaced(tmp_path):
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))  # bound, never listening: what a killed server leaves
    config = EmbedConfig(server_socket=path)
    server = EmbedServer(path, Embedder(config))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert Embedder(config).encode(TEXTS[:1]).shape == (1, 384)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert not path.exists()  # a server that closes removes its socket


def test_the_command_needs_a_socket_in_its_config(tmp_path, monkeypatch, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("embed:\n  batch_size: 8\n", encoding="utf-8")
    monkeypatch.setattr("sys.argv", ["embed_server", "--config", str(config)])
    assert embed_server.main() == 2
    assert "embed.server_socket is not set" in capsys.readouterr().err


def test_the_command_serves_the_same_vectors_from_its_own_process_and_stops_cleanly(tmp_path):
    path = tmp_path / "embedder.sock"
    config = tmp_path / "config.yaml"
    config.write_text(f"embed:\n  server_socket: {path}\n", encoding="utf-8")
    command = [sys.executable, "-m", "pipeline.embed_server", "--config", str(config)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not path.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert path.exists(), process.stderr.read() if process.poll() is not None else "no socket"
        served = Embedder(EmbedConfig(server_socket=path))
        vectors = served.encode(TEXTS)
        assert served._model is None
        np.testing.assert_array_equal(vectors, Embedder(EmbedConfig()).encode(TEXTS))
        # The default config's languages are weighed from models loaded at the start.
        confidences = ServedConfidences(path)
        assert gold_languages(confidences) == gold_languages(lingua_confidences)
        assert confidences.use_server
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert not path.exists()
    log = process.stderr.read()
    assert not PROBLEM.search(log), f"the embedding server's log holds an error:\n{log}"


def test_a_silent_client_holds_up_no_other_request(served):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.connect(str(served.server_socket))  # connects, sends nothing
        started = time.monotonic()
        vectors = Embedder(served).encode(TEXTS[:1])
        assert time.monotonic() - started < embed_server.REQUEST_TIMEOUT_SECONDS
    assert vectors.shape == (1, 384)


@pytest.mark.parametrize(
    ("texts", "reply"),
    [
        ([""] * 1_000_000, "texts: at most 1024 a request, got 1000000"),
        (["x" * 100] * 100_000, None),  # over the byte limit: closed before the body is read
    ],
)
def test_an_oversized_request_is_refused_at_once(served, texts, reply):
    from pipeline.embed import receive_message, send_message

    started = time.monotonic()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(30)
        client.connect(str(served.server_socket))
        settings = Embedder(served).settings
        try:
            send_message(client, {"settings": settings, "texts": texts})
            answer = receive_message(client)
        except (ConnectionError, BrokenPipeError, struct.error):
            answer = None
    assert (answer or {}).get("error") == reply
    assert time.monotonic() - started < 10
