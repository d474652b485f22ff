"""End to end: `python -m flows.server start` (what `make serve` runs), the README's run with
the demo's translation memory triggered through the REST API, its artifacts, logs and CSVs, the
UI in a real headless Chromium, then `stop` with clean logs."""

import csv
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import SCREENSHOTS, headless_chromium, needs_chromium
from prefect_server import (
    PROJECT_ROOT,
    STAGES,
    api,
    deployment,
    free_port,
    running_server,
    scheduled_config_for_test,
    server_command,
    stages_logged,
    wait_for,
)

from pipeline.report import REPORT_FILE

SAMPLE = PROJECT_ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def served_run(tmp_path_factory):
    """A real server and runner serving the scheduled config (its folders moved under a temporary
    one), and one completed flow run triggered through the API as the README shows it."""
    home = tmp_path_factory.mktemp("prefect-home")
    work = tmp_path_factory.mktemp("served")
    config = scheduled_config_for_test(work, home)
    with running_server(home, config) as base:
        scheduled = wait_for("the deployment to be registered", lambda: deployment(base), 90)
        # The README's example: the sample folder, with the demo's translation memory, into an
        # output folder of its own (the schedule's cron, at :00 and :30, writes to work/out).
        flow_run = api(
            base, "POST", f"/deployments/{scheduled['id']}/create_flow_run",
            {"parameters": {"input_dir": str(SAMPLE / "articles"),
                            "output_dir": str(work / "adhoc"), "tm_files": ["data/sample/tm.tsv"]}},
        )  # fmt: skip
        final = wait_for(
            "the flow run to finish",
            lambda: _finished(base, flow_run["id"]),
            timeout=300,
        )
        yield {
            "base": base,
            "ui": base.removesuffix("/api"),
            "flow_run": final,
            "work": work,
            "stages_logged": stages_logged(base, flow_run["id"]),
            "top_statement": _top_statement(base, flow_run["id"]),
            "artifacts": {
                a["key"]: a["id"]
                for a in api(
                    base,
                    "POST",
                    "/artifacts/filter",
                    {"artifacts": {"flow_run_id": {"any_": [flow_run["id"]]}}},
                )
                if a["key"]
            },  # fmt: skip
        }


def _top_statement(base: str, flow_run_id: str) -> dict:
    """The first row of the run's top-statements table artifact."""
    only = {"flow_run_id": {"any_": [flow_run_id]}, "key": {"any_": ["top-statements"]}}
    artifacts = api(base, "POST", "/artifacts/filter", {"artifacts": only})
    data = artifacts[0]["data"]
    return (json.loads(data) if isinstance(data, str) else data)[0]


def _finished(base: str, flow_run_id: str) -> dict | None:
    flow_run = api(base, "GET", f"/flow_runs/{flow_run_id}")
    return flow_run if flow_run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED") else None


def test_run_triggered_through_the_api_completes_with_artifacts_and_csvs(served_run):
    flow_run = served_run["flow_run"]
    assert flow_run["state"]["type"] == "COMPLETED", flow_run["state"]
    assert flow_run["parameters"]["output_dir"] == str(served_run["work"] / "adhoc")

    artifacts = api(
        served_run["base"], "POST", "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [flow_run["id"]]}}},
    )  # fmt: skip
    by_key = {a["key"]: a for a in artifacts if a["key"]}
    assert "Articles per language" in by_key["run-summary"]["data"]
    assert "Warning" not in by_key["run-summary"]["data"]  # the memory covers every sentence
    assert by_key["top-statements"]["type"] == "table"
    assert any(a["type"] == "progress" for a in artifacts)

    latest = served_run["work"] / "adhoc" / "latest"
    with (latest / "sentences.csv").open(encoding="utf-8") as handle:
        sentences = list(csv.DictReader(handle))
    assert {s["lang"] for s in sentences} == {"en", "ru", "uk"}
    assert (latest / "alignments.csv").stat().st_size > 0


def test_a_run_is_named_tagged_and_logs_each_stage(served_run):
    flow_run = served_run["flow_run"]
    assert flow_run["name"].startswith("sample/articles 20")  # input folder, then start time
    assert {"parallax", "scheduled-test"} <= set(flow_run["tags"])
    assert served_run["stages_logged"] == set(STAGES)


def test_the_readme_prefect_example_gives_what_make_demo_gives(served_run, tmp_path):
    """`make demo` is `parallax run --input data/sample/articles --tm data/sample/tm.tsv`."""
    demo = subprocess.run(
        [str(Path(sys.executable).with_name("parallax")), "run", "--input",
         str(SAMPLE / "articles"), "--tm", str(SAMPLE / "tm.tsv"), "--output", str(tmp_path),
         "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    counts = {}
    for name, folder in (("demo", tmp_path), ("flow", served_run["work"] / "adhoc")):
        counts[name] = json.loads((folder / "latest" / "run.json").read_text())["counts"]
    assert "skipped" not in counts["flow"]["sentences_by_origin"]
    for key in ("articles", "sentences", "sentences_by_origin", "alignments", "statements"):
        assert counts["flow"][key] == counts["demo"][key], key


def test_a_busy_port_fails_at_once_with_the_reason(tmp_path):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        started = server_command("start", tmp_path / "home", port)
    assert started.returncode == 1
    (line,) = started.stderr.strip().splitlines()
    assert f"port {port} on 127.0.0.1 is not free (Address already in use)" in line
    assert not list((tmp_path / "home").glob("*.pid"))


@needs_chromium
def test_ui_in_headless_chromium_shows_the_flow_run_and_its_summary(served_run, tmp_path):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with headless_chromium(tmp_path / "profile") as driver:
        wait = WebDriverWait(driver, 90)
        flow_run = served_run["flow_run"]
        # The UI keeps the API password where its login form does: set it from a page of the
        # same origin that runs no UI code, so that no request goes out without it.
        driver.get(f"{served_run['ui']}/ico/favicon-32x32.png")
        driver.execute_script(
            "localStorage.setItem('prefect-password', btoa(arguments[0]))",
            os.environ["PREFECT_API_AUTH_STRING"],
        )
        driver.get(f"{served_run['ui']}/runs")
        wait.until(lambda d: flow_run["name"] in d.find_element(By.TAG_NAME, "body").text)

        driver.get(f"{served_run['ui']}/runs/flow-run/{flow_run['id']}")
        wait.until(lambda d: d.find_elements(By.ID, "artifacts")).pop().click()
        for key in ("run-summary", "top-statements", "report"):  # listed on the run's page
            wait.until(lambda d, key=key: key in d.find_element(By.TAG_NAME, "body").text)

        def open_artifact(key: str, shows: str) -> None:
            """Open the page of the run's artifact `key`; wait until it shows `shows`."""
            driver.get(f"{served_run['ui']}/artifacts/artifact/{served_run['artifacts'][key]}")
            try:
                wait.until(lambda d: shows in d.find_element(By.TAG_NAME, "body").text)
            except TimeoutException:
                driver.save_screenshot(str(SCREENSHOTS / f"timed-out-{key}.png"))
                raise

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        open_artifact("run-summary", "Articles per language")
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "Stories" in body and "Coverage of the largest story" in body
        assert _page_width(driver) <= 1400  # no sideways scrolling, not even inside a table
        assert driver.save_screenshot(str(SCREENSHOTS / "prefect-run-summary.png"))
        top = served_run["top_statement"]
        open_artifact("top-statements", top["statement"][:40])
        assert driver.save_screenshot(str(SCREENSHOTS / "prefect-top-statements.png"))
        assert _page_width(driver) <= 1400
        open_artifact("report", REPORT_FILE)
        errors = [
            e["message"]
            for e in driver.get_log("browser")  # every page opened since the log was read
            if e["level"] == "SEVERE" and not PREFECT_UI_OWN_FAILURES.match(e["message"])
        ]
        assert not errors, "\n".join(errors)
    print(f"screenshots: {SCREENSHOTS}")


# Requests of Prefect 3.8.8's UI that fail whatever the run holds: Amplitude's configuration
# (its v2 UI starts Amplitude even with analytics off, which the server sets; it sends no
# events then, and offline the name does not resolve) and favicons it looks for where the
# server has none (/favicon.ico; /ico/<state>.svg, the state icons being at the root).
PREFECT_UI_OWN_FAILURES = re.compile(
    r"(https://[\w.-]+\.amplitude\.com/|http://127\.0\.0\.1:\d+/(favicon\.ico|ico/\w+\.svg)) "
)


def _page_width(driver) -> int:
    """How wide the page and its widest scrolling box are, in CSS pixels."""
    return driver.execute_script(
        "let w = document.documentElement.scrollWidth;"
        "for (const e of document.querySelectorAll('*')) {"
        "  if (e.clientWidth && e.scrollWidth > e.clientWidth + 1"
        "      && getComputedStyle(e).overflowX !== 'hidden') w = Math.max(w, e.scrollWidth); }"
        "return w;"
    )


def test_stop_never_signals_a_process_it_did_not_start(tmp_path):
    """A forged pid file (or one whose pid was reused) names a process of someone else."""
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        home = tmp_path / "home"
        home.mkdir()
        (home / "serve.pid").write_text(f"{bystander.pid}\n", encoding="utf-8")  # no start time
        (home / "server.pid").write_text(f"{bystander.pid} 1\n", encoding="utf-8")  # wrong one
        stopped = server_command("stop", home, free_port())
        assert stopped.returncode == 0 and stopped.stdout.strip() == "nothing was running"
        assert stopped.stderr.count("does not name a process that `make serve` started") == 2
        assert bystander.poll() is None
        assert not list(home.glob("*.pid"))
    finally:
        bystander.kill()
        bystander.wait()


def test_a_second_instance_on_a_live_embedding_socket_is_refused(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    config = scheduled_config_for_test(work, home)
    home.mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:  # another instance's
        other.bind(str(home / "embedder.sock"))
        other.listen()
        started = server_command("start", home, free_port(), "--config", str(config))
    assert started.returncode == 1
    (line,) = started.stderr.strip().splitlines()
    assert f"an embedding server of another `make serve` listens on {home}" in line
    assert not list(home.glob("*.pid"))


def test_a_config_whose_runs_would_all_be_refused_is_refused_at_start(tmp_path):
    """Each served run keeps to flow.allowed_roots; a config with a folder outside them would
    start a server whose every scheduled run fails."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    config = scheduled_config_for_test(work, home)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(str(work / "cache"), str(tmp_path / "cache")), "utf-8")
    started = server_command("start", home, free_port(), "--config", str(config))
    assert started.returncode == 1
    (line,) = started.stderr.strip().splitlines()
    assert f"cache_dir {tmp_path / 'cache'} is outside the folders" in line
    assert line.endswith("every scheduled run would be refused")
    assert not list(home.glob("*.pid"))


@pytest.mark.parametrize("port", ["0", "99999", "http"])
def test_a_port_that_is_no_port_is_a_usage_error(tmp_path, port):
    done = subprocess.run(
        [sys.executable, "-m", "flows.server", "start", "--home", str(tmp_path), "--port", port],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(f"'{port}' is not a TCP port (1 to 65535)")


def test_a_run_cut_off_by_a_crash_is_marked_crashed_on_the_next_start(tmp_path):
    """The runner dies mid-run (SIGKILL, as in a crash): on the next start the run is marked
    crashed, its concurrency slot is released, and a new run completes."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    config = scheduled_config_for_test(work, home)
    out = work / "out"
    out.mkdir()
    parameters = {"input_dir": str(SAMPLE / "articles"), "output_dir": str(out),
                  "tm_files": ["data/sample/tm.tsv"]}  # fmt: skip
    with (out / ".parallax.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the run waits for it, RUNNING
        with running_server(home, config, expected=("another run is writing",)) as base:
            scheduled = wait_for("the deployment", lambda: deployment(base), 90)
            cut_off = api(base, "POST", f"/deployments/{scheduled['id']}/create_flow_run",
                          {"parameters": parameters})  # fmt: skip
            wait_for("the run to start", lambda: _state(base, cut_off["id"]) == "RUNNING", 120)
            os.killpg(int((home / "serve.pid").read_text().split()[0]), signal.SIGKILL)
        fcntl.flock(lock, fcntl.LOCK_UN)

    # Logs go on in the same home. Marking the run crashed makes Prefect warn that the run's
    # concurrency lease, held in the stopped server's memory, is gone.
    expected = ("another run is writing", "not found during release")
    with running_server(home, config, expected) as base:
        crashed = api(base, "GET", f"/flow_runs/{cut_off['id']}")
        assert crashed["state"]["type"] == "CRASHED"
        assert "stopped while this run was in progress" in crashed["state"]["message"]
        again = api(base, "POST", f"/deployments/{scheduled['id']}/create_flow_run",
                    {"parameters": parameters})  # fmt: skip
        final = wait_for("the new run to finish", lambda: _finished(base, again["id"]), 240)
    assert final["state"]["type"] == "COMPLETED"


def _state(base: str, flow_run_id: str) -> str:
    return api(base, "GET", f"/flow_runs/{flow_run_id}")["state"]["type"]


def test_the_api_refuses_a_client_without_the_password(served_run):
    """Any local user reaches 127.0.0.1; only one with the password in PREFECT_HOME gets in."""
    anonymous = urllib.request.Request(
        f"{served_run['base']}/flow_runs/filter", method="POST", data=b"{}",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, timeout=30)
    assert refused.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as wrong:
        api(served_run["base"], "POST", "/flow_runs/filter", {}, auth="parallax:wrong")
    assert wrong.value.code == 401
    assert api(served_run["base"], "POST", "/flow_runs/filter", {})  # with the password
