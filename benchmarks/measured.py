"""`parallax ARGS...` as its own whole process, which then prints its peak resident memory.

    python -m benchmarks.measured run --input ... --output ...

The last line of stdout is {"exit": code, "peak_rss_mib": MiB}: the process's own peak
(VmHWM, see benchmarks/child.py), imports and model loading included.
"""

from __future__ import annotations

import json
import sys

from benchmarks.child import peak_rss_kib
from pipeline.cli import main

if __name__ == "__main__":
    code = main(sys.argv[1:])
    print(json.dumps({"exit": code, "peak_rss_mib": peak_rss_kib() / 1024}))
    sys.exit(code)
