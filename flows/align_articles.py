"""The Prefect flow `align-articles`: pipeline.run's stages, each run as a Prefect task.

No logic lives here: the sequence is pipeline/run.py's. This module only says how a step runs
(as a task with a timeout, retried where it does I/O), how progress is shown (a progress
artifact), how a run is named and tagged, and what the UI gets at the end (summary and table
artifacts).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.logging.handlers import APILogHandler
from prefect.runtime import flow_run

from flows import ALLOWED_ROOTS_VARIABLE, outside_roots, run_paths
from flows.artifacts import SUMMARY_STORIES, summary_markdown, top_statements_table
from flows.cluster import chunks_on
from pipeline.collect import collect_sources
from pipeline.config import StageTimeouts, load_config
from pipeline.report import REPORT_FILE, ReportError, read_run
from pipeline.run import RunError, Step, run

# Steps that read or write files are retried: a network share or a busy disk fails transiently.
RETRIES = {"ingest": 2, "export": 2}
RETRY_DELAY_SECONDS = 5
TAG = "parallax"


class StageTimeoutError(RunError):
    """A stage task ran past its configured timeout (flow.stage_timeout_seconds)."""


def stage_runner(timeouts: StageTimeouts) -> Step:
    """pipeline.run's step hook: run each stage as a Prefect task named after it, failed with
    StageTimeoutError when it runs past its timeout (Prefect's task `timeout_seconds`)."""

    def run_as_task(name: str, function: Callable[..., Any], *args: Any) -> Any:
        seconds = getattr(timeouts, name)
        stage = task(
            function,
            name=name,
            retries=RETRIES.get(name, 0),
            retry_delay_seconds=RETRY_DELAY_SECONDS,
            timeout_seconds=seconds,
            # Inputs are corpus-sized records and open stores: nothing to hash or persist.
            cache_policy=NO_CACHE,
            persist_result=False,
        )
        state = stage(*args, return_state=True)
        if state.name == "TimedOut":
            raise StageTimeoutError(
                f"stage {name} was still running after {seconds} s and was stopped "
                f"(flow.stage_timeout_seconds.{name} in the config)"
            )
        return state.result()

    return run_as_task


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


def run_name() -> str:
    """A flow run's name: its input folder and scheduled start, e.g. `data/inbox 2026-11-30
    16:30 UTC`, so runs can be told apart in the UI."""
    folder = Path(flow_run.parameters["input_dir"])
    started = flow_run.scheduled_start_time
    return f"{Path(*folder.parts[-2:])} {started:%Y-%m-%d %H:%M:%S} UTC"


def check_allowed(paths: dict[str, Path | None]) -> None:
    """Raise RunError, naming the parameter, for a path outside the folders that `make serve`
    allows its runs (ALLOWED_ROOTS_VARIABLE, from the served config's flow.allowed_roots).

    Any local user can reach the API on 127.0.0.1; the credentials keep others out, and this
    keeps a run to the folders its server was meant to serve. A flow called in-process, with
    no such server, has no roots to keep to.
    """
    value = os.environ.get(ALLOWED_ROOTS_VARIABLE)
    if not value:
        return
    refused = outside_roots(paths, map(Path, value.split(os.pathsep)), Path.cwd())
    if refused:
        raise RunError(refused)


def config_name(config_path: str | None) -> str:
    """The tag that says which config a run used: its file name without extension."""
    return Path(config_path).stem if config_path else "default"


def tag_this_run(*tags: str) -> None:
    """Add tags to the current flow run (a deployment's runs have its tags already)."""
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, tags=sorted({*flow_run.tags, *tags}))


@contextlib.contextmanager
def pipeline_logs_in_run() -> Iterator[None]:
    """Send pipeline's own log lines (one per finished stage) to the run's Logs tab."""
    logger = logging.getLogger("pipeline")
    handler, level = APILogHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@flow(name="align-articles", flow_run_name=run_name)
def align_articles(
    input_dir: str = "data/inbox",
    output_dir: str | None = None,
    config_path: str | None = None,
    tm_files: list[str] | None = None,
) -> dict[str, Any]:
    """Align the articles under `input_dir`; outputs go to `output_dir` (default: the config's);
    `tm_files` (translation memories) replace the config's, as `parallax run --tm` does. With
    `collect.enabled`, new articles are first collected from the config's sources into
    `input_dir` (a source that fails is reported in the summary; the run goes on)."""
    tag_this_run(TAG, config_name(config_path))
    check_allowed({"config_path": Path(config_path) if config_path else None})
    overrides: dict[str, dict[str, Any]] = {}
    if output_dir:
        overrides["paths"] = {"output_dir": output_dir}
    if tm_files:
        overrides["translate"] = {"tm_files": tm_files}
    config = load_config(Path(config_path) if config_path else None, overrides)
    check_allowed(run_paths(config, Path(input_dir)))
    step = stage_runner(config.flow.stage_timeout_seconds)
    collected = []
    if config.collect.enabled:  # into the folder this run reads
        inbox = dataclasses.replace(config.collect, inbox=Path(input_dir))
        collected = step("collect", collect_sources, inbox, config.paths.cache_dir)
    with pipeline_logs_in_run(), chunks_on(config) as cluster:
        result = run(
            Path(input_dir), config, step=step, progress=progress_artifact, map_chunks=cluster
        )

    logger = get_run_logger()
    on_cluster = {}
    if cluster is not None:
        on_cluster = {"dask_chunks": dict(cluster.sent)}
        if cluster.sent:
            logger.info("chunks run on the Dask cluster at %s: %s", cluster.address, on_cluster)
    view = None
    if result.run_dir is not None:
        try:
            view = read_run(result.run_dir, max_stories=SUMMARY_STORIES)
        except ReportError as error:  # the tables were written: the run still stands
            logger.warning("the run summary lists no stories: %s", error)
    create_markdown_artifact(
        summary_markdown(result, input_dir, collected, view),
        key="run-summary",
        description="Parallax run summary",
    )
    for report in collected:
        logger.info("collected %s", report.line())
    if result.run_dir is None:
        # An empty inbox is what most scheduled runs find: news, not a fault.
        logger.info("no article was read from %s; no run written", input_dir)
        return {"run_dir": None, **result.counts}
    create_link_artifact(
        key="report",
        link=(result.run_dir / REPORT_FILE).resolve().as_uri(),
        link_text=f"{REPORT_FILE} of run {result.run_id}",
        description=f"The run's report; its tables are beside it in {result.run_dir}",
    )
    if view is not None:
        create_table_artifact(
            top_statements_table(view),
            key="top-statements",
            description="Statements carried by the most sources (wordings: run-summary, report)",
        )
    logger.info("outputs written to %s", result.run_dir)
    return {"run_dir": str(result.run_dir), **result.counts, **on_cluster}
