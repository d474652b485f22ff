"""The deployment `scheduled` of flow align-articles, declared here and served by this process.

`python -m flows.serve [--config FILE]` registers the deployment with the Prefect API in
PREFECT_API_URL and executes its runs (scheduled, or triggered from the UI or API) until stopped.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import SCHEDULED_CONFIG, load_config

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

STOPPED_BEFORE_SERVING = "stopped before the runner began serving"


def scheduled_deployment(config_path: Path = SCHEDULED_CONFIG) -> RunnerDeployment:
    """Schedule (cron, or interval_seconds where set), input folder and output folder come from
    the config file the runs use."""
    # Prefect and the flow (trafilatura, torch...) load here, not at the top: main() must
    # catch a stop that comes while they load, seconds on a slow machine.
    from prefect.schedules import Cron, Interval

    from flows.align_articles import TAG, align_articles, config_name

    config = load_config(config_path)
    schedule = config.schedule
    if schedule.interval_seconds is not None:
        when = Interval(timedelta(seconds=schedule.interval_seconds), timezone=schedule.timezone)
    else:
        when = Cron(schedule.cron, timezone=schedule.timezone)
    return align_articles.to_deployment(
        name="scheduled",
        schedules=[when],
        parameters={
            "input_dir": str(schedule.input_dir),
            "output_dir": str(config.paths.output_dir),
            "config_path": str(config_path),
        },
        tags=[TAG, config_name(str(config_path))],
        # Two runs must never write the same outputs at once.
        concurrency_limit=1,
        description="Align the inbox on a schedule; outputs cover every article seen so far.",
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.serve")
    parser.add_argument("--config", type=Path, default=SCHEDULED_CONFIG, help="the runs' config")
    config = parser.parse_args().config
    # A runner started from a background job inherits SIGINT ignored, and `make stop` would
    # then wait out its deadline and kill it: stops are SIGINT (flows/server.py).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from prefect import serve

        serve(scheduled_deployment(config))
    except KeyboardInterrupt:
        # `make stop` asks the runner with SIGINT (flows/server.py). Once serving, Prefect
        # catches it and shuts down; while its libraries load or the deployment is being
        # registered it does not, and a stop then wrote a KeyboardInterrupt traceback into
        # serve.log. Out at once: a normal exit unwound the half-started Prefect's threads and
        # aborted with "FATAL: exception not rethrown".
        print(STOPPED_BEFORE_SERVING, file=sys.stderr, flush=True)
        os._exit(0)


if __name__ == "__main__":
    main()
