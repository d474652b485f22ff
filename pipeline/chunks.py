"""Where the chunks of a long stage run: in this process, or wherever a caller sends them.

Translate and embed cut the texts they have not cached into chunks (pipeline/translate/argos.py,
pipeline/embed.py). With no `MapChunks` hook (the default, `parallax run`) each chunk runs here,
as it always has. The flow passes a hook that runs each chunk as a Dask task on a cluster,
through prefect-dask (flows/cluster.py, `executor: dask` in the config). Either way the chunks
are the same, so the outputs are too; and the caches stay in this process, which stores what
comes back as the local path does (translations chunk by chunk, embeddings at the stage's
end). A worker function is module-level (Dask pickles it by name),
takes `(spec, chunk)` and loads its model once per worker process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# map_chunks(name, worker_function, spec, chunks) -> each chunk's result, in the chunks' order,
# as each is ready. `name` says what the chunks are ("embed", "translate ru"), for the counts
# and messages of the one who runs them.
MapChunks = Callable[[str, Callable[[Any, Any], Any], Any, list[Any]], Iterable[Any]]


class ChunkError(RuntimeError):
    """A chunk could not run where it was sent: the cluster cannot be reached, the chunk's
    worker died, or the worker's model is not this run's. Unlike a damaged model here (whose
    language is skipped), this fails the run: its message says why."""
