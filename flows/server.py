"""Start and stop a local Prefect server and the processes that serve our deployment.

`python -m flows.server start [--home DIR] [--port N] [--config FILE]` runs, in the background:
`prefect server start` on 127.0.0.1 (SQLite under the home folder, PREFECT_HOME); once its API
answers, the embedding server that keeps the model loaded for the scheduled runs
(`python -m pipeline.embed_server`, on the config's embed.server_socket) and
`python -m flows.serve`. Each runs in its own process group, recorded in the home folder, so
`stop` ends them and all their children. A start that cannot succeed (port taken, server
exiting) fails at once with one line, and stops what it started.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from flows import ALLOWED_ROOTS_VARIABLE, outside_roots, run_paths
from pipeline.config import PROJECT_ROOT, SCHEDULED_CONFIG, Config, ConfigError, load_config
from pipeline.embed_server import answers

DEFAULT_HOME = PROJECT_ROOT / ".prefect"
DEFAULT_PORT = 4200
START_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 20
PROCESSES = ("server", "embedder", "serve")
DEPLOYMENT = "align-articles/scheduled"
CREDENTIALS_FILE = "api-auth"
# How each is asked to stop. The runner takes SIGINT: Prefect 3.8.8's SIGTERM handler calls an
# async stop() without awaiting it, which leaves a RuntimeWarning in serve.log at every stop.
STOP_SIGNALS = {"serve": signal.SIGINT}


class ServerError(RuntimeError):
    """The server cannot be started; the message is one line for the user."""


def allowed_roots(config: Config) -> tuple[Path, ...]:
    """The folders served runs may use: flow.allowed_roots, relative ones taken from the
    project root, where the runner and its runs work."""
    return tuple((PROJECT_ROOT / root).resolve() for root in config.flow.allowed_roots)


def api_credentials(home: Path) -> str:
    """The `user:password` the server requires of every API client (Prefect's basic
    authentication): made once, kept in `home`/api-auth, readable by its owner only."""
    path = home / CREDENTIALS_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(f"parallax:{secrets.token_urlsafe(24)}\n")
    return path.read_text(encoding="utf-8").strip()


def prefect_env(
    home: Path, port: int, credentials: str, roots: tuple[Path, ...] = (), host: str = "127.0.0.1"
) -> dict[str, str]:
    """Environment for the server, the runner and any client: local, private, no telemetry;
    the API requires `credentials`, and flow runs keep to `roots`."""
    api = f"http://{host}:{port}/api"
    return {
        **os.environ,
        "PREFECT_SERVER_API_AUTH_STRING": credentials,
        "PREFECT_API_AUTH_STRING": credentials,
        ALLOWED_ROOTS_VARIABLE: os.pathsep.join(str(root) for root in roots),
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_UI_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "HF_HUB_OFFLINE": "1",
    }


def port_in_use(port: int, host: str = "127.0.0.1") -> str | None:
    """Why `port` cannot be listened on (the OS's reason), or None where it can."""
    with socket.socket() as probe:
        # As uvicorn does: a port left in TIME_WAIT by a stopped server is free to reuse.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror
    return None


def wait_until_healthy(
    api_url: str, server: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT_SECONDS
) -> None:
    """Wait for the API to answer; raise ServerError at once if the server process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ServerError(
                f"the Prefect server exited (code {server.returncode}): {_last_line(log)} "
                f"(log: {log})"
            )
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise ServerError(f"the Prefect API at {api_url} did not answer within {timeout:.0f} s")


def wait_for_socket(
    path: Path, embedder: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT_SECONDS
) -> None:
    """Wait for the embedding server to answer on `path`; raise ServerError if it exits."""
    deadline = time.monotonic() + timeout
    while not answers(path):
        if embedder.poll() is not None:
            raise ServerError(
                f"the embedding server exited (code {embedder.returncode}): {_last_line(log)}"
            )
        if time.monotonic() > deadline:
            raise ServerError(f"the embedding server did not open {path} within {timeout:.0f} s")
        time.sleep(0.2)


# Answers of a busy server that a client retries, and how often (Prefect's client: 5 times).
RETRY_CODES = frozenset({429, 502, 503})
RETRIES = 3


def api_request(
    api_url: str, method: str, path: str, body: dict | None = None, auth: str | None = None
) -> Any:
    """One call to the Prefect REST API at `api_url`; the JSON it answers, or None.

    `auth` is the `user:password` of the server's basic authentication; by default
    PREFECT_API_AUTH_STRING, as Prefect's own clients take it. Raises urllib's HTTPError. A
    busy server's 429, 502 or 503 (its SQLite database locked by a scheduler loop) is retried
    after a pause, as Prefect's own client does (PREFECT_CLIENT_MAX_RETRIES).
    """
    headers = {"Content-Type": "application/json"}
    auth = auth or os.environ.get("PREFECT_API_AUTH_STRING")
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    request = urllib.request.Request(
        f"{api_url}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
    )
    for attempt in range(RETRIES + 1):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
            return json.loads(payload) if payload else None
        except urllib.error.HTTPError as error:
            if error.code not in RETRY_CODES or attempt == RETRIES:
                raise
            time.sleep(2**attempt)


def crash_orphaned_runs(api_url: str, auth: str) -> list[str]:
    """Mark crashed the runs of align-articles/scheduled that a stopped server left running.

    Called after the server starts and before the runner does, so no run of the deployment
    can be running then: one that says so was cut off (runner killed, machine restarted), and
    would hold the deployment's only concurrency slot for good. The state change to Crashed
    releases the slot (Prefect's ReleaseFlowConcurrencySlots). Returns the runs' names.
    """
    try:
        deployment = api_request(api_url, "GET", f"/deployments/name/{DEPLOYMENT}", auth=auth)
    except urllib.error.HTTPError as error:
        if error.code == 404:  # first start: nothing registered yet
            return []
        raise
    unfinished = {"type": {"any_": ["RUNNING", "PENDING", "CANCELLING"]}}
    runs = api_request(
        api_url, "POST", "/flow_runs/filter",
        {"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}, "state": unfinished}},
        auth=auth,
    )  # fmt: skip
    message = "Crashed: the server and runner stopped while this run was in progress"
    for run in runs:
        state = {"type": "CRASHED", "name": "Crashed", "message": message}
        api_request(
            api_url, "POST", f"/flow_runs/{run['id']}/set_state", {"state": state}, auth=auth
        )
    return [run["name"] for run in runs]


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "(its log is empty)")


def _spawn(name: str, command: list[str], home: Path, env: dict[str, str]) -> subprocess.Popen:
    log = (home / f"{name}.log").open("ab")
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    (home / f"{name}.pid").write_text(f"{process.pid} {_start_time(process.pid)}\n")
    return process


def start(
    home: Path = DEFAULT_HOME, port: int = DEFAULT_PORT, config: Path = SCHEDULED_CONFIG
) -> tuple[str, list[str]]:
    """Start the server, the embedding server and the deployment runner; returns the UI
    address and the names of runs marked crashed (crash_orphaned_runs).

    Raises ServerError (one line) when something runs already in `home`, the port is taken,
    or the server exits or does not answer; what was started is stopped again.
    """
    try:
        served = load_config(config)
    except ConfigError as error:
        raise ServerError(f"config error: {error}") from None
    socket_path = served.embed.server_socket
    roots = allowed_roots(served)
    # The runner checks each run's paths (flows.align_articles.check_allowed): a config that
    # fails that check would start a server whose every scheduled run is refused.
    deployed = {"config": config, **run_paths(served, served.schedule.input_dir)}
    refused = outside_roots(deployed, roots, PROJECT_ROOT)
    if refused:
        raise ServerError(f"{refused}: every scheduled run would be refused")
    running = [name for name in PROCESSES if _alive(home, name)]
    if running:
        raise ServerError(
            f"already running in {home} ({', '.join(running)}); "
            f"run `make stop PREFECT_HOME={home}` first"
        )
    busy = port_in_use(port)
    if busy:
        raise ServerError(
            f"port {port} on 127.0.0.1 is not free ({busy}); choose another: make serve PORT=..."
        )
    if socket_path is not None and answers(socket_path):
        raise ServerError(
            f"an embedding server of another `make serve` listens on {socket_path} "
            f"(embed.server_socket in {config}); give this one a config with its own socket"
        )
    # Owner-only: the database holds every run's parameters, api-auth the API's password.
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o700)
    env = prefect_env(home, port, api_credentials(home), roots)
    prefect = str(Path(sys.executable).with_name("prefect"))
    server = _spawn(
        "server",
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        home,
        env,
    )
    try:
        wait_until_healthy(env["PREFECT_API_URL"], server, home / "server.log")
    except ServerError:
        stop(home)
        raise
    crashed = crash_orphaned_runs(env["PREFECT_API_URL"], env["PREFECT_API_AUTH_STRING"])
    configured = ["--config", str(config)]
    if socket_path is not None:
        embedder = _spawn(
            "embedder", [sys.executable, "-m", "pipeline.embed_server", *configured], home, env
        )
        # The runner starts once the model is loaded, so no run comes before it and loads the
        # model itself (with a warning in the log).
        try:
            wait_for_socket(socket_path, embedder, home / "embedder.log")
        except ServerError:
            stop(home)
            raise
    _spawn("serve", [sys.executable, "-m", "flows.serve", *configured], home, env)
    return f"http://127.0.0.1:{port}", crashed


def _start_time(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (/proc/PID/stat, field 22): with
    the pid, it names one process, where a pid alone may since name another."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after "(comm)" start at field 3


def _pid(home: Path, name: str) -> int | None:
    """The pid in `name`.pid, if that process is the one `start` recorded there and is alive.

    A pid file that names another process (forged, or its pid reused since) gives None: it
    must never be signalled.
    """
    path = home / f"{name}.pid"
    try:
        pid, started = path.read_text().split()
        return int(pid) if _start_time(int(pid)) == started else None
    except (OSError, ValueError):
        return None


def _alive(home: Path, name: str) -> bool:
    return _pid(home, name) is not None


def stop(home: Path = DEFAULT_HOME) -> tuple[list[str], list[str]]:
    """Stop the runner, then the server, with every process they started.

    Only a process whose pid file records its start time is signalled (its process group).
    Returns the names stopped, and one line for each pid file that named another process.
    """
    stopped, refused = [], []
    for name in reversed(PROCESSES):
        path = home / f"{name}.pid"
        pid = _pid(home, name)
        if pid is None and path.is_file():
            refused.append(
                f"{path} does not name a process that `make serve` started here (forged, stale, "
                "or written by an older version): nothing was signalled"
            )
        if pid is not None:
            if name in STOP_SIGNALS:
                # The runner alone is asked; what it leaves of its group is killed below.
                # Signalled as a group, a flow-run process that was just exiting took the
                # SIGINT inside Prefect's at-exit log drain and wrote a KeyboardInterrupt
                # traceback into serve.log (seen once in a full test run).
                os.kill(pid, STOP_SIGNALS[name])
            else:
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            while _alive(home, name) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(home, name) or name in STOP_SIGNALS:
                # Past the deadline; or what the runner left of its group (a flow run still
                # going), which would otherwise outlive `stop`.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        path.unlink(missing_ok=True)
    return stopped, refused


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1 to 65535)")
    return int(text)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.server")
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="PREFECT_HOME folder")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT)
    parser.add_argument(
        "--config", type=Path, default=SCHEDULED_CONFIG, help="config of the scheduled runs"
    )
    args = parser.parse_args()
    if args.action == "start":
        try:
            url, crashed = start(args.home, args.port, args.config)
        except ServerError as error:
            print(f"serve: {error}", file=sys.stderr)
            return 1
        for name in crashed:
            print(f"marked run {name!r} crashed: it was running when the server stopped")
        print(
            f"Prefect UI: {url}  (deployment {DEPLOYMENT}; logs in {args.home}; the UI and API "
            f"ask for the user:password in {args.home / CREDENTIALS_FILE})"
        )
    else:
        stopped, refused = stop(args.home)
        for line in refused:
            print(f"stop: {line}", file=sys.stderr)
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
