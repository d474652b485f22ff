"""The schedule fires: Prefect's own scheduler creates runs of align-articles/scheduled and the
runner executes them, on a real server started as `make serve` starts it."""

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from prefect_server import (
    PROJECT_ROOT,
    STAGES,
    api,
    deployment,
    flow_runs,
    log_problems,
    running_server,
    scheduled_config_for_test,
    stages_logged,
    wait_for,
)

from pipeline.config import SCHEDULED_CONFIG, load_config
from pipeline.embed_server import answers

SAMPLE = SCHEDULED_CONFIG.parents[1] / "data" / "sample"
INTERVAL_SECONDS = 30
SOURCES = ("marenburg-herald", "vestnik-regiona")  # an English and a Russian article
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def test_scheduler_creates_runs_and_one_completes_writing_outputs(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    config = scheduled_config_for_test(
        work, home, tm_files=(SAMPLE / "tm.tsv",), interval_seconds=INTERVAL_SECONDS
    )
    for source in SOURCES:
        shutil.copytree(SAMPLE / "articles" / source, work / "inbox" / source)
    with running_server(home, config) as base:
        scheduled = wait_for("the deployment", lambda: deployment(base), timeout=90)

        def first_auto_run_started() -> dict | None:
            runs = [r for r in flow_runs(base, scheduled["id"]) if r["auto_scheduled"]]
            started = [r for r in runs if r["state_type"] not in ("SCHEDULED", "PENDING")]
            return started[0] if started else None

        first = wait_for("a scheduled run to start", first_auto_run_started, timeout=180)
        # Pausing deletes the runs scheduled after it, so the server stops with nothing running.
        api(base, "POST", f"/deployments/{scheduled['id']}/pause_deployment")
        done = wait_for(
            "the scheduled run to finish",
            lambda: (
                (r := api(base, "GET", f"/flow_runs/{first['id']}"))["state_type"] in FINAL and r
            ),
            timeout=300,
        )
        wait_for(
            "no run left running",
            lambda: all(
                r["state_type"] in FINAL or r["state_name"] == "Scheduled"
                for r in flow_runs(base, scheduled["id"])
            ),
            timeout=300,
        )
        logged = stages_logged(base, first["id"])

    assert done["state_type"] == "COMPLETED", done["state"]
    assert done["auto_scheduled"] is True and done["created_by"]["type"] == "SCHEDULE"
    assert done["name"].startswith(f"{work.name}/inbox ")  # folder and start time, not random
    assert {"parallax", "scheduled-test"} <= set(done["tags"])
    assert logged == set(STAGES)
    with (work / "out" / "latest" / "sentences.csv").open(encoding="utf-8") as handle:
        sentences = list(csv.DictReader(handle))
    assert {s["source"] for s in sentences} == set(SOURCES)
    assert {s["english_origin"] for s in sentences} == {"original", "tm"}
    assert (work / "out" / "latest" / "alignments.csv").is_file()


def test_the_scheduled_configs_cron_yields_upcoming_runs_right_after_start(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    cron = load_config(SCHEDULED_CONFIG).schedule.cron
    config = scheduled_config_for_test(work, home)
    assert load_config(config).schedule.cron == cron == "*/30 * * * *"
    with running_server(home, config) as base:
        # `start` returns once the model is loaded: no run can come before it and load its own.
        assert answers(home / "embedder.sock")
        scheduled = wait_for("the deployment", lambda: deployment(base), timeout=90)
        upcoming = wait_for(
            "upcoming runs",
            lambda: [
                r for r in flow_runs(base, scheduled["id"])
                if r["auto_scheduled"] and r["state_type"] == "SCHEDULED"
            ],
            timeout=60,
        )  # fmt: skip
    starts = [datetime.fromisoformat(r["expected_start_time"]) for r in upcoming]
    assert len(starts) >= 3
    assert all(start.minute in (0, 30) and start.second == 0 for start in starts)
    assert sorted(starts)[1] - sorted(starts)[0] == (sorted(starts)[2] - sorted(starts)[1])


def test_the_log_check_catches_what_a_broken_scheduler_writes(tmp_path):
    """The lines SQLAlchemy 2.1.9 made Prefect 3.8.8's scheduler write on every loop, and the
    runner's warning at a SIGTERM stop, are caught; the start-up banner and INFO lines are not."""
    (tmp_path / "server.log").write_text(
        "Check out the dashboard at http://127.0.0.1:4200\n"
        "16:16:37.278 | INFO    | prefect.server - Scheduler started\n"
        "16:17:37.301 | ERROR   | prefect.server.services.scheduler - Unexpected error\n"
        "Traceback (most recent call last):\n"
        "sqlalchemy.exc.InvalidRequestError: Can't evaluate bulk DML statement\n",
        encoding="utf-8",
    )
    (tmp_path / "serve.log").write_text(
        "RuntimeWarning: coroutine 'Runner.astop' was never awaited\n", encoding="utf-8"
    )
    (tmp_path / "embedder.log").write_text(
        "2026-11-30 16:24:06,388 __main__ embedding with all-MiniLM-L6-v2\n", encoding="utf-8"
    )
    problems = log_problems(tmp_path)
    assert problems == [
        "serve.log: RuntimeWarning: coroutine 'Runner.astop' was never awaited",
        "server.log: 16:17:37.301 | ERROR   | prefect.server.services.scheduler - Unexpected error",
        "server.log: Traceback (most recent call last):",
    ]


def _mapped(pid: int, library: str) -> bool:
    """Whether process `pid` has loaded a shared library whose path holds `library`."""
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("phase", ["loading Prefect", "registering the deployment"])
def test_a_stop_before_the_runner_serves_ends_it_in_one_line(tmp_path, phase):
    # `make stop` sends the runner SIGINT. Prefect catches it once serving, not while its
    # libraries load or the deployment is being registered: a stop right after start (seen on a
    # slow machine in the test above, and by a user stopping at once) wrote a KeyboardInterrupt
    # traceback into serve.log. Each phase is waited for, not guessed: Prefect's pydantic core
    # mapped into the process (the runner imports Prefect only inside main()), or an API that
    # accepts the connection and never answers.
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    config = scheduled_config_for_test(work, home)
    with socket.socket() as silent_api:
        silent_api.bind(("127.0.0.1", 0))
        silent_api.listen()
        silent_api.settimeout(120)
        env = {
            **os.environ,
            "PREFECT_API_URL": f"http://127.0.0.1:{silent_api.getsockname()[1]}/api",
            "PREFECT_HOME": str(home),
        }
        runner = subprocess.Popen(
            [sys.executable, "-m", "flows.serve", "--config", str(config)],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        connection = None
        try:
            if phase == "loading Prefect":
                deadline = time.monotonic() + 120
                while not _mapped(runner.pid, "pydantic_core") and time.monotonic() < deadline:
                    time.sleep(0.02)  # Prefect goes on loading for seconds after this library
                assert runner.poll() is None and _mapped(runner.pid, "pydantic_core")
            else:
                connection, _ = silent_api.accept()  # held open, unanswered, until the end
            runner.send_signal(signal.SIGINT)
            _, stderr = runner.communicate(timeout=60)
        finally:
            runner.kill()
            if connection is not None:
                connection.close()
    assert runner.returncode == 0, stderr
    assert stderr.strip() == "stopped before the runner began serving"
