"""The Prefect flow `align-articles`: pipeline.run's stages, each run as a Prefect task.

No logic lives here: the sequence is pipeline/run.py's. This module only says how a step runs
(as a task, retried where it does I/O), how progress is shown (a progress artifact) and what
the UI gets at the end (summary and table artifacts).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from flows.artifacts import summary_markdown, top_alignments_table
from pipeline.config import load_config
from pipeline.run import run

# Steps that read or write files are retried: a network share or a busy disk fails transiently.
RETRIES = {"ingest": 2, "export": 2}
RETRY_DELAY_SECONDS = 5


def run_as_task(name: str, function: Callable[..., Any], *args: Any) -> Any:
    """pipeline.run's step hook: run one stage as a Prefect task named after it."""
    stage = task(
        function,
        name=name,
        retries=RETRIES.get(name, 0),
        retry_delay_seconds=RETRY_DELAY_SECONDS,
        # Inputs are corpus-sized records and open stores: nothing to hash or persist.
        cache_policy=NO_CACHE,
        persist_result=False,
    )
    return stage(*args)


def progress_artifact(label: str, total: int) -> Callable[[int], None]:
    """pipeline.run's progress hook: one progress artifact per long step, updated as it goes."""
    artifact_id = create_progress_artifact(progress=0.0, description=f"{label}: 0 of {total}")
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        update_progress_artifact(
            artifact_id, progress=100.0 * done / total, description=f"{label}: {done} of {total}"
        )

    return advance


@flow(name="align-articles")
def align_articles(
    input_dir: str = "data/inbox", output_dir: str | None = None, config_path: str | None = None
) -> dict[str, Any]:
    """Align the articles under `input_dir`; outputs go to `output_dir` (default: the config's)."""
    overrides = {"paths": {"output_dir": output_dir}} if output_dir else None
    config = load_config(Path(config_path) if config_path else None, overrides)
    result = run(Path(input_dir), config, step=run_as_task, progress=progress_artifact)

    create_markdown_artifact(
        summary_markdown(result), key="run-summary", description="Parallax run summary"
    )
    create_table_artifact(
        top_alignments_table(result),
        key="top-statements",
        description="Top aligned statements, by ratio margin",
    )
    get_run_logger().info("outputs written to %s", result.run_dir)
    return {"run_dir": str(result.run_dir), **result.counts}
