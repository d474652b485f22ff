"""Files written so that no reader ever sees one half-written: a run's tables and report, and
the embedding backends' verdict, which the embedding server writes and runs read.

A module of its own, not part of export.py, so that the embedding server can write through it
without importing what export needs (stories, and with them FAISS).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_file(path: Path, binary: bool = False) -> Iterator[Any]:
    """A text (or `binary`) handle on a temporary file in the same folder, fsynced and renamed
    over `path` when the block completes, so `path` is never seen half-written; removed when
    the block or the rename fails. Each writer has a temporary file of its own: two processes
    writing one path at once (a run and the embedding server both saving the backend verdict)
    each rename a whole file, the later one winning."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    # Never through a link planted at the temporary name; the mode is left to the umask.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    mode = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8", "newline": ""}
    try:
        with open(fd, **mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
