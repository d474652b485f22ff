"""What every benchmark shares: the measurement record, a timer, the machine, the results files."""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.embed_backend import cpu_name

log = logging.getLogger("benchmarks")

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LIBRARIES = ("ctranslate2", "argostranslate", "sentencepiece", "sentence-transformers",
             "transformers", "torch", "openvino", "faiss-cpu", "numpy",
             "lingua-language-detector")  # fmt: skip


@dataclass
class Measurement:
    """One figure: `value` against `baseline` on the same data; `ratio` is what the goal judges.

    `goal` reads ">= 0.9" or "<= 0.05" (or "" for figures recorded without a goal).
    """

    name: str
    value: float
    baseline: float
    ratio: float
    goal: str
    unit: str
    notes: str = ""

    @property
    def meets_goal(self) -> bool | None:
        if not self.goal:
            return None
        op, bound = self.goal.split()
        return self.ratio >= float(bound) if op == ">=" else self.ratio <= float(bound)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "meets_goal": self.meets_goal}


def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


# Rounds of every side-by-side figure: one noisy stretch of a shared machine must not decide it
# (embed_vs_raw_encode once came out 0.55 on a loaded machine, 0.96 to 1.02 in other runs).
ROUNDS = 3


@dataclass(frozen=True)
class Turns:
    """Seconds of two sides timed in turns (alternate()), one entry per round."""

    value_s: list[float]
    baseline_s: list[float]

    @property
    def speedup(self) -> float:
        """Median over the rounds of baseline seconds / value seconds (> 1: value is faster)."""
        return statistics.median(b / v for v, b in zip(self.value_s, self.baseline_s, strict=True))

    @property
    def value(self) -> float:
        return statistics.median(self.value_s)

    @property
    def baseline(self) -> float:
        return statistics.median(self.baseline_s)

    def describe(self) -> str:
        per_round = ", ".join(
            f"{b / v:.2f}" for v, b in zip(self.value_s, self.baseline_s, strict=True)
        )
        return f"median of {len(self.value_s)} rounds taking turns (per round {per_round})"


def alternate(
    value: Callable[[], Any], baseline: Callable[[], Any], rounds: int = ROUNDS
) -> tuple[Any, Any, Turns]:
    """Time `value` and `baseline` in turns, `rounds` times each, the order swapped every round
    so that neither always runs second. Returns (value's last result, baseline's last result,
    the seconds of each round)."""
    value_s: list[float] = []
    baseline_s: list[float] = []
    for number in range(rounds):
        order = ((value, value_s), (baseline, baseline_s))
        for function, seconds in order if number % 2 == 0 else reversed(order):
            result, elapsed = timed(function)
            seconds.append(elapsed)
            if function is value:
                value_result = result
            else:
                baseline_result = result
    return value_result, baseline_result, Turns(value_s, baseline_s)


def machine() -> dict[str, Any]:
    cpu = cpu_name()
    with open("/proc/meminfo", encoding="utf-8") as handle:
        mem_kib = int(handle.readline().split()[1])
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": versions,
    }


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def write_results(info: dict[str, Any], measurements: list[Measurement], mode: str) -> Path:
    """Write results/latest.json and latest.md, and the same as <mode>.json and <mode>.md, so a
    quick run does not overwrite the last full one. Returns latest.json's path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    data = {"machine": info, "mode": mode, "measurements": [m.to_dict() for m in measurements]}
    json_text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    columns = ("name", "value", "baseline", "ratio", "goal", "meets_goal", "unit", "notes")
    lines = [
        f"# Parallax benchmarks ({mode})",
        "",
        f"{info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, Python {info['python']}",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in data["measurements"]:
        lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    libraries = ", ".join(f"{k} {v}" for k, v in info["libraries"].items() if v)
    lines += ["", f"Libraries: {libraries}", ""]
    for name in ("latest", mode):
        (RESULTS_DIR / f"{name}.json").write_text(json_text, encoding="utf-8")
        (RESULTS_DIR / f"{name}.md").write_text("\n".join(lines), encoding="utf-8")
    return RESULTS_DIR / "latest.json"
