"""Start and stop a local Prefect server and the processes that serve our deployment.

`python -m flows.server start` runs, in the background: `prefect server start` on 127.0.0.1
(SQLite under PREFECT_HOME); once its API answers, the embedding server that keeps the model
loaded for the scheduled runs (`python -m pipeline.embed_server`, socket set in
config/scheduled.yaml) and `python -m flows.serve`. Each runs in its own process group,
recorded in PREFECT_HOME, so `stop` ends them and all their children.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pipeline.config import PROJECT_ROOT

DEFAULT_HOME = PROJECT_ROOT / ".prefect"
DEFAULT_PORT = 4200
START_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 20
PROCESSES = ("server", "embedder", "serve")


def prefect_env(home: Path, port: int, host: str = "127.0.0.1") -> dict[str, str]:
    """Environment for the server, the runner and any client: local, private, no telemetry."""
    api = f"http://{host}:{port}/api"
    return {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_UI_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        # Show the pipeline's own log lines (one per finished stage) in each run's logs.
        "PREFECT_LOGGING_EXTRA_LOGGERS": "pipeline",
        "HF_HUB_OFFLINE": "1",
    }


def wait_until_healthy(api_url: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the Prefect API at {api_url} did not answer within {timeout:.0f} s")


def _spawn(name: str, command: list[str], home: Path, env: dict[str, str]) -> None:
    log = (home / f"{name}.log").open("ab")
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    (home / f"{name}.pid").write_text(str(process.pid))


def start(home: Path = DEFAULT_HOME, port: int = DEFAULT_PORT) -> str:
    """Start the server, the embedding server and the deployment runner; returns the UI address."""
    home.mkdir(parents=True, exist_ok=True)
    running = [name for name in PROCESSES if _alive(home, name)]
    if running:
        raise RuntimeError(f"already running ({', '.join(running)}); run `make stop` first")
    env = prefect_env(home, port)
    prefect = str(Path(sys.executable).with_name("prefect"))
    _spawn(
        "server",
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        home,
        env,
    )
    wait_until_healthy(env["PREFECT_API_URL"])
    # Runs find the embedding server once it has loaded the model; until then they load it.
    _spawn("embedder", [sys.executable, "-m", "pipeline.embed_server"], home, env)
    _spawn("serve", [sys.executable, "-m", "flows.serve"], home, env)
    return f"http://127.0.0.1:{port}"


def _pid(home: Path, name: str) -> int | None:
    path = home / f"{name}.pid"
    return int(path.read_text()) if path.is_file() else None


def _alive(home: Path, name: str) -> bool:
    pid = _pid(home, name)
    if pid is None:
        return False
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(home: Path = DEFAULT_HOME) -> list[str]:
    """Stop the runner, then the server, with every process they started; returns what ran."""
    stopped = []
    for name in reversed(PROCESSES):
        pid = _pid(home, name)
        if pid is not None and _alive(home, name):
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            while _alive(home, name) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(home, name):
                os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        (home / f"{name}.pid").unlink(missing_ok=True)
    return stopped


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.server")
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="PREFECT_HOME folder")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    if args.action == "start":
        url = start(args.home, args.port)
        print(f"Prefect UI: {url}  (deployment align-articles/scheduled; logs in {args.home})")
    else:
        stopped = stop(args.home)
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
