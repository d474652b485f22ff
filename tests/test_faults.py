"""Faults a scheduled run meets, injected into real `parallax run` processes: kill -9 during
translation and during output writing, a corrupted cache, a full disk, two runs at once.
After each, a rerun completes and its outputs equal those of a clean run: nothing is lost."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.store import Store

PARALLAX = Path(sys.executable).parent / "parallax"
CSV_FILES = ("sentences.csv", "alignments.csv", "statements.csv", "coverage.csv", "unique.csv",
             "articles.csv", "rejects.csv")  # fmt: skip
RUSSIAN_WORDS = (
    "министерство заявило вода реке безопасна союзники осуждают отправку войск власти "
    "подтвердили эвакуацию двенадцати человек баржа разлив порт берег топливо"
).split()
ENGLISH = (
    "The river ministry said the water is safe to drink. Officials confirmed that twelve "
    "people were evacuated on Friday. The barge was towed back to port."
)
RUSSIAN_SENTENCES = 1200  # five chunks of CHUNK_SENTENCES (256) for the translator
POLL_SECONDS = 0.02

# Loaded by every Python process started with this folder on PYTHONPATH. It slows two steps of
# the real `parallax run` so that a kill lands inside them on any machine: each chunk of
# sentences the translator decodes, and each fsync of an output file. Nothing else changes.
SHIM = """
import os
import time

_chunk_delay = float(os.environ.get("FAULT_CHUNK_DELAY", "0"))
_fsync_delay = float(os.environ.get("FAULT_FSYNC_DELAY", "0"))
if _chunk_delay:
    from pipeline.translate import argos

    _translate_tokens = argos.ArgosTranslator._translate_tokens

    def _slow_translate_tokens(self, batch):
        result = _translate_tokens(self, batch)
        time.sleep(_chunk_delay)
        return result

    argos.ArgosTranslator._translate_tokens = _slow_translate_tokens
if _fsync_delay:
    _fsync = os.fsync

    def _slow_fsync(fd):
        _fsync(fd)
        time.sleep(_fsync_delay)

    os.fsync = _slow_fsync
"""


@pytest.fixture(autouse=True)
def _needs_console_script():
    if not PARALLAX.exists():
        pytest.skip(f"console script not installed at {PARALLAX} (run `make test`)")


def russian_sentence(rng: random.Random) -> str:
    words = [rng.choice(RUSSIAN_WORDS) for _ in range(rng.randint(8, 14))]
    return " ".join(words).capitalize() + "."


@pytest.fixture(scope="module")
def world(tmp_path_factory, installed_packages_dir) -> dict:
    """A corpus with enough Russian for several translation chunks, a config, and a shim."""
    root = tmp_path_factory.mktemp("faults")
    corpus = root / "in"
    rng = random.Random(7)
    sentences = list(dict.fromkeys(russian_sentence(rng) for _ in range(RUSSIAN_SENTENCES + 50)))
    sentences = sentences[:RUSSIAN_SENTENCES]
    for index in range(4):
        article = corpus / f"ru-{index}" / "article.txt"
        article.parent.mkdir(parents=True)
        article.write_text("\n".join(sentences[index::4]), encoding="utf-8")
    for name in ("wire", "post"):
        (corpus / f"{name}.txt").write_text(ENGLISH, encoding="utf-8")
    config = root / "config.yaml"
    config.write_text(
        f"translate:\n  packages_dir: {installed_packages_dir}\n  beam_size: 2\n"
        "  max_decoding_length: 64\n",
        encoding="utf-8",
    )
    shim = root / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SHIM, encoding="utf-8")
    return {
        "root": root,
        "corpus": corpus,
        "config": config,
        "shim": shim,
        "russian": len(sentences),
    }


def command(world: dict, name: str) -> list[str]:
    """`parallax run` writing to OUTPUT=<name>/out with its cache in <name>/cache."""
    return [str(PARALLAX), "run", "--input", str(world["corpus"]), "--config",
            str(world["config"]), "--output", str(world["root"] / name / "out"), "--cache-dir",
            str(world["root"] / name / "cache")]  # fmt: skip


def environment(world: dict, **delays: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ARGOS_PACKAGE_INDEX": "http://127.0.0.1:9/"}
    if delays:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(world["shim"]), env.get("PYTHONPATH")])
        )
        env.update(delays)
    return env


def parallax_run(world: dict, name: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        command(world, name), capture_output=True, text=True, env=environment(world), timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], timeout: float = 120) -> None:
    """SIGKILL `process` as soon as `ready()` is true; fail if it exits first."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the run ended before the fault could be injected"
        assert time.monotonic() < deadline, "the fault window never opened"
        time.sleep(POLL_SECONDS)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def translations_stored(cache_dir: Path) -> int:
    path = cache_dir / "cache.sqlite3"
    if not path.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute("SELECT count(*) FROM translations").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or briefly locked
        return 0


def cache_is_intact(cache_dir: Path) -> bool:
    with contextlib.closing(sqlite3.connect(cache_dir / "cache.sqlite3")) as db:
        ok = db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return ok and not list(cache_dir.glob("*.corrupt-*"))


def outputs(run_dir: Path) -> dict[str, str]:
    return {name: (run_dir / name).read_text(encoding="utf-8") for name in CSV_FILES}


def run_info(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def clean_run(world) -> dict[str, str]:
    """The outputs of one run with nothing cached and nothing going wrong."""
    parallax_run(world, "clean")
    latest = world["root"] / "clean" / "out" / "latest"
    assert run_info(latest)["counts"]["translated_new"] == world["russian"]
    return outputs(latest)


def warm_cache(world: dict, name: str) -> None:
    """Give run folder `name` a copy of the clean run's (complete) cache."""
    shutil.copytree(world["root"] / "clean" / "cache", world["root"] / name / "cache")


def test_kill_during_translation_keeps_finished_chunks_and_rerun_equals_clean_run(world, clean_run):
    cache = world["root"] / "killed-translating" / "cache"
    process = subprocess.Popen(
        command(world, "killed-translating"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment(world, FAULT_CHUNK_DELAY="0.5"),
    )
    kill_when(process, lambda: translations_stored(cache) > 0)

    kept = translations_stored(cache)
    assert 0 < kept < world["russian"], "the kill did not land during translation"
    out = world["root"] / "killed-translating" / "out"
    assert not (out / "latest").exists()

    rerun = parallax_run(world, "killed-translating")
    counts = run_info(out / "latest")["counts"]
    assert counts["translated_cached"] == kept
    assert counts["translated_new"] == world["russian"] - kept
    assert outputs(out / "latest") == clean_run
    assert cache_is_intact(cache) and "unreadable" not in rerun.stderr


def test_kill_during_output_writing_keeps_latest_and_rerun_equals_clean_run(world, clean_run):
    warm_cache(world, "killed-writing")
    out = world["root"] / "killed-writing" / "out"
    parallax_run(world, "killed-writing")
    previous = (out / "latest").resolve()
    previous_files = {path.name: path.read_bytes() for path in previous.iterdir()}

    process = subprocess.Popen(
        command(world, "killed-writing"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment(world, FAULT_FSYNC_DELAY="0.5"),
    )
    kill_when(process, lambda: any(out.glob(".*.partial/sentences.csv")))

    # Killed with some files written and others not: `latest` still shows the previous run.
    (staging,) = out.glob(".*.partial")
    assert {"sentences.csv", "run.json"} - {path.name for path in staging.iterdir()}
    assert (out / "latest").resolve() == previous
    assert {path.name: path.read_bytes() for path in previous.iterdir()} == previous_files
    shown = sorted(path.name for path in out.iterdir() if not path.name.startswith("."))
    assert shown == sorted([previous.name, "latest"])

    rerun = parallax_run(world, "killed-writing")
    assert (out / "latest").resolve() != previous
    assert outputs(out / "latest") == clean_run
    assert cache_is_intact(world["root"] / "killed-writing" / "cache")
    assert "unreadable" not in rerun.stderr


def test_corrupted_cache_is_set_aside_and_rebuilt_with_a_warning(world, clean_run):
    cache = world["root"] / "corrupted" / "cache"
    cache.mkdir(parents=True)
    (cache / "cache.sqlite3").write_bytes(b"SQLite format 3\x00" + os.urandom(64 * 1024))

    rerun = parallax_run(world, "corrupted")

    warnings = [line for line in rerun.stderr.splitlines() if "unreadable" in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING pipeline.store: cache ")
    assert "moved to" in warnings[0] and "and rebuilt" in warnings[0]
    assert len(list(cache.glob("cache.sqlite3.corrupt-*"))) == 1
    assert outputs(world["root"] / "corrupted" / "out" / "latest") == clean_run
    with contextlib.closing(sqlite3.connect(cache / "cache.sqlite3")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM translations").fetchone()[0] == world["russian"]


@pytest.fixture
def small_tmpfs(tmp_path) -> Path:
    """A 12 MiB tmpfs (a run's report.html alone is 5 MB), where this process may mount one
    (root with CAP_SYS_ADMIN)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_disk_full_while_writing_outputs_exits_1_and_keeps_previous_latest(
    world, clean_run, small_tmpfs
):
    warm_cache(world, "disk-full")
    (world["root"] / "disk-full" / "out").symlink_to(small_tmpfs, target_is_directory=True)
    parallax_run(world, "disk-full")
    previous = (small_tmpfs / "latest").resolve()
    previous_files = {path.name: path.read_bytes() for path in previous.iterdir()}
    info = os.statvfs(small_tmpfs)
    (small_tmpfs / ".filler").write_bytes(b"\0" * (info.f_bavail * info.f_frsize - 8192))

    done = subprocess.run(
        command(world, "disk-full"), capture_output=True, text=True, env=environment(world),
        timeout=300,
    )  # fmt: skip

    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("parallax: could not write the outputs to ")
    assert "No space left on device" in line
    assert line.endswith("the previous `latest` run is unchanged")
    assert [e for e in done.stderr.splitlines() if e.startswith("parallax:")] == [line]
    assert (small_tmpfs / "latest").resolve() == previous
    assert {path.name: path.read_bytes() for path in previous.iterdir()} == previous_files
    assert sorted(path.name for path in small_tmpfs.iterdir()) == sorted(
        [previous.name, "latest", ".filler", ".parallax.lock"]
    )


def test_cache_on_a_full_disk_is_left_alone_and_the_run_fails_with_one_line(world, small_tmpfs):
    """A write the disk refuses is not damage: the healthy cache is neither renamed nor
    rebuilt, and the run stops with one line."""
    (world["root"] / "cache-full").mkdir()
    (world["root"] / "cache-full" / "cache").symlink_to(small_tmpfs, target_is_directory=True)
    with contextlib.closing(Store(small_tmpfs)) as store:
        store.put_translations("earlier-model", [("hash", "Kept from an earlier run.")])
    info = os.statvfs(small_tmpfs)
    (small_tmpfs / ".filler").write_bytes(b"\0" * (info.f_bavail * info.f_frsize))

    done = subprocess.run(
        command(world, "cache-full"), capture_output=True, text=True, env=environment(world),
        timeout=300,
    )  # fmt: skip

    assert done.returncode == 1
    (line,) = [e for e in done.stderr.splitlines() if e.startswith("parallax:")]
    cache = world["root"] / "cache-full" / "cache" / "cache.sqlite3"
    assert line.startswith(f"parallax: cache {cache} cannot be ")  # opened or written
    assert line.endswith("; it is left as it is")
    assert "Traceback" not in done.stderr
    assert not list(small_tmpfs.glob("*.corrupt-*"))
    (small_tmpfs / ".filler").unlink()
    with contextlib.closing(Store(small_tmpfs)) as store:
        assert store.get_translations("earlier-model", ["hash"]) == {
            "hash": "Kept from an earlier run."
        }


def test_disk_full_through_the_cli_in_process_exits_1_with_one_line(
    world, clean_run, monkeypatch, capsys
):
    from pipeline import cli

    warm_cache(world, "disk-full-in-process")
    assert cli.main(command(world, "disk-full-in-process")[1:]) == 0
    out = world["root"] / "disk-full-in-process" / "out"
    previous = (out / "latest").resolve()
    capsys.readouterr()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert cli.main(command(world, "disk-full-in-process")[1:]) == 1

    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"parallax: could not write the outputs to {out} (No space left on device); "
        "the previous `latest` run is unchanged"
    )
    assert (out / "latest").resolve() == previous
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [previous.name, "latest", ".parallax.lock"]
    )


def test_two_parallax_runs_on_one_output_folder_wait_and_never_interleave(world, clean_run):
    warm_cache(world, "two-runs")
    out = world["root"] / "two-runs" / "out"
    out.mkdir(parents=True)
    logs = [world["root"] / "two-runs" / f"run-{index}.log" for index in range(2)]
    # Hold the lock first, so that both runs are seen waiting before either may start.
    with (out / ".parallax.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        processes = []
        for log in logs:
            with log.open("w") as handle:
                processes.append(
                    subprocess.Popen(
                        command(world, "two-runs"),
                        stdout=subprocess.DEVNULL,
                        stderr=handle,
                        env=environment(world),
                    )
                )
        deadline = time.monotonic() + 120
        while not all("another run is writing to" in log.read_text() for log in logs):
            assert time.monotonic() < deadline and all(p.poll() is None for p in processes)
            time.sleep(POLL_SECONDS)
        assert not list(out.glob("2*")), "a run wrote outputs while the lock was held"
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert [process.wait(timeout=300) for process in processes] == [0, 0]

    runs = sorted(path for path in out.iterdir() if path.name[0].isdigit())
    spans = sorted(
        (datetime.fromisoformat(info["started"]), datetime.fromisoformat(info["finished"]))
        for info in map(run_info, runs)
    )
    assert len(runs) == 2 and spans[0][1] <= spans[1][0], "the two runs overlapped"
    for run_dir in runs:
        assert outputs(run_dir) == clean_run
    assert (out / "latest").resolve() in runs
