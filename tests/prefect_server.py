"""Helpers for tests that start a real Prefect server (`python -m flows.server`, what
`make serve` runs): its REST API, waiting, and the check that its logs hold no error."""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from flows.server import CREDENTIALS_FILE
from flows.server import api_request as api

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# A Python traceback, a log record at WARNING or above (Prefect's `| ERROR |`, logging's
# `ERROR name:`), a Python warning (`RuntimeWarning: ...`), or a process's own `error:` line.
PROBLEM = re.compile(
    r"Traceback \(most recent call last\)|\b(WARNING|ERROR|CRITICAL)\b|\w+Warning: |^error:",
    re.M,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def server_command(action: str, home: Path, port: int, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    return subprocess.run(
        [sys.executable, "-m", "flows.server", action, "--home", str(home), "--port", str(port),
         *extra],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def log_problems(home: Path) -> list[str]:
    """Every traceback, warning or error line in the logs of the processes started in `home`."""
    found = []
    for log in sorted(home.glob("*.log")):
        text = log.read_text(errors="replace")
        for match in PROBLEM.finditer(text):
            start = text.rfind("\n", 0, match.start()) + 1
            found.append(f"{log.name}: {text[start : text.find(chr(10), match.end())]}")
    return found


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def scheduled_config_for_test(
    work: Path, home: Path, tm_files: tuple[Path, ...] = (), **schedule: Any
) -> Path:
    """config/scheduled.yaml as it is, but for the folders: inbox, outputs, cache, packages and
    the embedding socket under `work` and `home`, so a test writes nothing into the project.
    `schedule` keys replace that section's (e.g. interval_seconds)."""
    config = yaml.safe_load((PROJECT_ROOT / "config" / "scheduled.yaml").read_text())
    config["paths"] = {"output_dir": str(work / "out"), "cache_dir": str(work / "cache")}
    config["schedule"] = {**config["schedule"], "input_dir": str(work / "inbox"), **schedule}
    config["embed"] = {**config["embed"], "server_socket": str(home / "embedder.sock")}
    config["translate"] = {
        "packages_dir": str(work / "packages"),
        "tm_files": [str(path) for path in tm_files],
    }
    config["flow"] = {"allowed_roots": [str(work), "data"]}
    (work / "inbox").mkdir(exist_ok=True)
    if config["embed"].get("backend") == "auto":
        seed_backend_verdict(work / "cache")
    path = work / "scheduled-test.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@functools.cache
def _backend_verdict() -> Path:
    """A cache folder where `embed.backend: auto` has timed the backends, once per session."""
    from pipeline.config import EmbedConfig
    from pipeline.embed import Embedder

    folder = Path(tempfile.mkdtemp(prefix="parallax-auto-"))
    atexit.register(shutil.rmtree, folder, True)
    Embedder(EmbedConfig(backend="auto"), folder).backend  # noqa: B018  (times and saves)
    return folder


def seed_backend_verdict(cache_dir: Path) -> None:
    """The scheduled config's `embed.backend: auto`, already decided in `cache_dir`, as on a
    server after its first start: each server test would otherwise spend ~17 s timing the
    backends (tests/test_embed_backend.py tests that path)."""
    shutil.copytree(_backend_verdict(), cache_dir, dirs_exist_ok=True)


@contextlib.contextmanager
def running_server(home: Path, config: Path, expected: tuple[str, ...] = ()) -> Iterator[str]:
    """`python -m flows.server start` on a free port with its own home; yields the API address.

    On the way out: `stop`, then assert that every process is gone and that no log holds a
    traceback, a warning or an error (printed when one does), other than log lines that hold
    one of the `expected` strings.
    """
    port = free_port()
    started = server_command("start", home, port, "--config", str(config))
    pids = [int(path.read_text().split()[0]) for path in home.glob("*.pid")]
    previous = os.environ.get("PREFECT_API_AUTH_STRING")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        # As a user's shell would: API calls (flows.server.api_request) send the password.
        os.environ["PREFECT_API_AUTH_STRING"] = (home / CREDENTIALS_FILE).read_text().strip()
        yield f"http://127.0.0.1:{port}/api"
    finally:  # whatever failed above, nothing outlives the test
        if previous is None:
            os.environ.pop("PREFECT_API_AUTH_STRING", None)
        else:
            os.environ["PREFECT_API_AUTH_STRING"] = previous
        stopped = server_command("stop", home, port)
        assert stopped.returncode == 0, stopped.stderr
        assert not [pid for pid in pids if group_alive(pid)], "a server process outlived `stop`"
        problems = [p for p in log_problems(home) if not any(e in p for e in expected)]
        assert not problems, "server logs hold errors:\n" + "\n".join(problems)


def deployment(base: str) -> dict | None:
    try:
        return api(base, "GET", "/deployments/name/align-articles/scheduled")
    except OSError:
        return None


def flow_runs(base: str, deployment_id: str) -> list[dict]:
    query = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}
    return api(base, "POST", "/flow_runs/filter", {**query, "sort": "EXPECTED_START_TIME_ASC"})


STAGES = ("ingest", "segment", "langid", "translate", "embed", "align", "export")


def run_logs(base: str, flow_run_id: str) -> list[str]:
    logs = api(base, "POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id]}}})
    return [entry["message"] for entry in logs]


def stages_logged(base: str, flow_run_id: str) -> set[str]:
    """The stages whose `<stage> finished in ...` line is in the run's logs (its Logs tab),
    waiting a little for them: a run's logs reach the API in batches after the run ends."""

    def logged() -> set[str]:
        lines = run_logs(base, flow_run_id)
        return {s for s in STAGES if any(line.startswith(f"{s} finished in") for line in lines)}

    try:
        return wait_for("every stage's log line", lambda: logged() == set(STAGES) and logged(), 20)
    except AssertionError:
        return logged()
