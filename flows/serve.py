"""The deployment `scheduled` of flow align-articles, declared here and served by this process.

`python -m flows.serve` registers the deployment with the Prefect API in PREFECT_API_URL and
executes its runs (scheduled, or triggered from the UI or API) until stopped.
"""

from __future__ import annotations

from pathlib import Path

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.align_articles import align_articles
from pipeline.config import PROJECT_ROOT, load_config

SCHEDULED_CONFIG = PROJECT_ROOT / "config" / "scheduled.yaml"


def scheduled_deployment(config_path: Path = SCHEDULED_CONFIG) -> RunnerDeployment:
    """Cron, input folder and output folder come from the config file the runs use."""
    config = load_config(config_path)
    return align_articles.to_deployment(
        name="scheduled",
        schedules=[Cron(config.schedule.cron, timezone=config.schedule.timezone)],
        parameters={
            "input_dir": str(config.schedule.input_dir),
            "output_dir": str(config.paths.output_dir),
            "config_path": str(config_path),
        },
        # Two runs must never write the same outputs at once.
        concurrency_limit=1,
        description="Align the inbox on a schedule; outputs cover every article seen so far.",
    )


if __name__ == "__main__":
    serve(scheduled_deployment())
