"""`executor: dask`: translate's and embed's chunks on a Dask cluster, through prefect-dask.

prefect-dask's DaskTaskRunner holds the cluster: a LocalCluster it starts for the run
(`dask.workers` processes), or a client of the scheduler at `dask.address`. The stages stay
Prefect tasks of the flow run (with their timeouts and progress artifacts); each of their chunks
is a Dask task on that cluster. Chunks are sent as plain Dask tasks, not Prefect task runs: a
Prefect task submitted from inside a stage task carries the stage's parameters (the open cache)
in its context, which cannot be sent to a worker; and so workers need no access to the Prefect
API. Each result comes back to the flow's process, which caches it as the local path does: the
caches are the flow's, and workers only compute (pipeline/chunks.py).

Not named dask.py: Prefect loads the flow from its file with flows/ on sys.path, where such a
module would stand in for the dask package.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from typing import Any

import dask
from distributed import KilledWorker
from distributed.comm.core import CommClosedError
from prefect_dask import DaskTaskRunner

from pipeline.chunks import ChunkError
from pipeline.config import Config, DaskConfig

# A chunk the cluster lost (its worker died, or the connection to it), as opposed to an error
# raised by the chunk's own function, which is raised here as it would be without a cluster.
_LOST = (KilledWorker, CancelledError, CommClosedError)


def task_runner(config: DaskConfig) -> DaskTaskRunner:
    """The runner `config` names: a client of `address`, else a LocalCluster of `workers`
    single-threaded processes, listening on 127.0.0.1 only."""
    if config.address:
        return DaskTaskRunner(address=config.address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": config.workers,
            "threads_per_worker": 1,
            "processes": True,
            "host": "127.0.0.1",
            # Distributed serves its HTTP routes even without the dashboard: on a free port,
            # so that two runs' clusters never contend for the default 8787.
            "dashboard_address": "127.0.0.1:0",
        },
    )


@contextlib.contextmanager
def kept_environment() -> Iterator[None]:
    """Put back, on leaving, the environment variables a LocalCluster's nannies set here.

    Before it spawns a worker, a nanny sets OMP_NUM_THREADS, MKL_NUM_THREADS and
    OPENBLAS_NUM_THREADS to 1 (its `distributed.nanny.pre-spawn-environ`, and PYTHONHASHSEED) in
    its own process's environment, "even if this means poisoning the process running the
    Nanny" (distributed.nanny.Nanny), and leaves them there. The flow's process would then load
    torch (align's joined sentences) on one thread, and every process it starts would run on
    one: a benchmark's runs after a LocalCluster took twice as long.
    """
    keys = {*dask.config.get("distributed.nanny.pre-spawn-environ", {}), "PYTHONHASHSEED"}
    before = {key: os.environ.get(key) for key in keys}
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class DaskChunks:
    """pipeline.run's `map_chunks` hook (pipeline/chunks.py) on the runner's cluster: sends every
    chunk of a call at once, yields their results in order, and counts what it sent (`sent`:
    chunks per name, "embed", "translate ru"). The runner starts its cluster (or connects to
    it) on the first chunk, so a run with nothing new to translate or embed starts none.
    Raises ChunkError for a cluster that cannot be reached, and, naming the chunk, for one the
    cluster lost; an error raised by the chunk's own function is raised as it would be here."""

    def __init__(self, runner: DaskTaskRunner):
        self.runner = runner
        self.sent: Counter[str] = Counter()
        self.address: str | None = None  # the scheduler's, once the first chunk is sent

    def __call__(
        self, name: str, function: Callable[[Any, Any], Any], spec: Any, chunks: list[Any]
    ) -> Iterator[Any]:
        try:  # the runner starts its cluster, or connects to it, on first use
            with kept_environment():
                client = self.runner.client
        except Exception as error:
            where = self.runner.address or "a LocalCluster"
            raise ChunkError(
                f"the Dask cluster ({where}: dask in the config) cannot be used: "
                f"{type(error).__name__}: {error}"
            ) from error
        self.address = client.scheduler.address
        # pure=False: no hashing of the chunks' texts for a key; each is new work anyway.
        futures = [client.submit(function, spec, chunk, pure=False) for chunk in chunks]
        self.sent[name] += len(futures)
        try:
            with kept_environment():  # a nanny restarting a dead worker sets them again
                for i, future in enumerate(futures, 1):
                    try:
                        yield future.result()
                    except _LOST as error:
                        raise ChunkError(
                            f"{name} chunk {i} of {len(chunks)} was lost on the Dask cluster "
                            f"at {self.address} ({type(error).__name__}: {error})"
                        ) from error
        finally:  # after a failure: the rest is not waited for
            if unfinished := [future for future in futures if not future.done()]:
                client.cancel(unfinished)


@contextlib.contextmanager
def chunks_on(config: Config) -> Iterator[DaskChunks | None]:
    """The `map_chunks` hook for `config.executor`: None (run here) for local; for dask, a
    DaskChunks on the cluster `config.dask` names, held until the context ends, so that
    workers keep their models loaded from one stage to the next."""
    if config.executor == "local":
        yield None
        return
    # Distributed's INFO lines (workers coming and going, and a traceback logged at INFO when a
    # closing worker's connection is already gone) would reach the run's log through Prefect's
    # handlers: its warnings and errors still do.
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with task_runner(config.dask) as runner:
            yield DaskChunks(runner)
    finally:
        logger.setLevel(level)
