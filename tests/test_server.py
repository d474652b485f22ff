"""End to end: `python -m flows.server start` (what `make serve` runs), a run triggered through
the REST API, its artifacts and CSVs, the UI in a real headless Chromium, then `stop`."""

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from flows.server import prefect_env

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = PROJECT_ROOT / "data" / "sample"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api(base: str, method: str, path: str, body: dict | None = None) -> dict | list:
    request = urllib.request.Request(
        f"{base}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_for(what: str, check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def server_command(action: str, home: Path, port: int, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.server", action, "--home", str(home), "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def served_run(tmp_path_factory):
    """A real server and runner, and one completed flow run triggered through the API."""
    home = tmp_path_factory.mktemp("prefect-home")
    work = tmp_path_factory.mktemp("served")
    port = free_port()
    env = {**os.environ, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    started = server_command("start", home, port, env)
    assert started.returncode == 0, started.stdout + started.stderr
    pids = [int((home / f"{name}.pid").read_text()) for name in ("server", "embedder", "serve")]
    base = prefect_env(home, port)["PREFECT_API_URL"]
    try:
        deployment = wait_for(
            "the deployment to be registered",
            lambda: _deployment(base),
            timeout=90,
        )
        config = work / "config.yaml"
        config.write_text(f"paths:\n  cache_dir: {work / 'cache'}\n", encoding="utf-8")
        flow_run = api(
            base, "POST", f"/deployments/{deployment['id']}/create_flow_run",
            {"parameters": {"input_dir": str(SAMPLE / "articles"), "output_dir": str(work / "out"),
                            "config_path": str(config)}},
        )  # fmt: skip
        final = wait_for(
            "the flow run to finish",
            lambda: _finished(base, flow_run["id"]),
            timeout=300,
        )
        yield {"base": base, "ui": f"http://127.0.0.1:{port}", "flow_run": final, "work": work}
    finally:
        stopped = server_command("stop", home, port, env)
        assert stopped.returncode == 0, stopped.stderr
        assert not [pid for pid in pids if group_alive(pid)], "a server process outlived `stop`"


def _deployment(base: str) -> dict | None:
    try:
        return api(base, "GET", "/deployments/name/align-articles/scheduled")
    except OSError:
        return None


def _finished(base: str, flow_run_id: str) -> dict | None:
    flow_run = api(base, "GET", f"/flow_runs/{flow_run_id}")
    return flow_run if flow_run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED") else None


def test_run_triggered_through_the_api_completes_with_artifacts_and_csvs(served_run):
    flow_run = served_run["flow_run"]
    assert flow_run["state"]["type"] == "COMPLETED", flow_run["state"]
    assert flow_run["parameters"]["output_dir"] == str(served_run["work"] / "out")

    artifacts = api(
        served_run["base"], "POST", "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [flow_run["id"]]}}},
    )  # fmt: skip
    by_key = {a["key"]: a for a in artifacts if a["key"]}
    assert "Articles per language" in by_key["run-summary"]["data"]
    assert by_key["top-statements"]["type"] == "table"
    assert any(a["type"] == "progress" for a in artifacts)

    latest = served_run["work"] / "out" / "latest"
    with (latest / "sentences.csv").open(encoding="utf-8") as handle:
        sentences = list(csv.DictReader(handle))
    assert {s["lang"] for s in sentences} == {"en", "ru", "uk"}
    assert (latest / "alignments.csv").stat().st_size > 0


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="chromium and chromedriver are not installed (Debian packages chromium, "
    "chromium-driver; `make test` installs them where apt-get is allowed)",
)
def test_ui_in_headless_chromium_shows_the_flow_run_and_its_summary(served_run, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = CHROMIUM
    for flag in [*BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    wait = WebDriverWait(driver, 60)
    try:
        flow_run = served_run["flow_run"]
        driver.get(f"{served_run['ui']}/runs")
        wait.until(lambda d: flow_run["name"] in d.find_element(By.TAG_NAME, "body").text)
        driver.get(f"{served_run['ui']}/runs/flow-run/{flow_run['id']}")
        wait.until(lambda d: d.find_elements(By.ID, "artifacts")).pop().click()
        summary_links = wait.until(
            lambda d: [a for a in d.find_elements(By.TAG_NAME, "a") if "run-summary" in a.text]
        )
        summary_links[0].click()
        wait.until(lambda d: "Articles per language" in d.find_element(By.TAG_NAME, "body").text)
        screenshot = tmp_path / "run-summary.png"
        assert driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000
        print(f"screenshot: {screenshot}")
    finally:
        driver.quit()
