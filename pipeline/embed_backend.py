"""Embedding backends: the model in torch, or exported to OpenVINO or ONNX, and the check that
decides whether one may stand in for torch on this machine.

Export and inference are sentence-transformers' own `backend=` support (which runs optimum
underneath), not an encoder of ours. An export is made once from the local weights and kept
in the cache folder under the weights' digest and the library versions.

Adoption rule (issue #18): a backend's vectors are within cosine 0.9999 of torch's on a fixed
sample (the ratio margin's background sentences, pipeline/background.py), and its alignments score
the same precision, recall and F1 as torch's on every gold set, within ±0.005.
tests/test_embed_backend.py checks the gold part for each installed backend; `python -m
benchmarks.alignment --set embed.backend=openvino` reports it. `embed.backend: auto` checks the
vector part on this machine, times each backend on the sample in turns, and takes the fastest
that passes. It keeps the verdict in the cache folder, keyed by weights, libraries and CPU,
so the check runs once.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import statistics
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.background import background_sentences
from pipeline.files import atomic_file

log = logging.getLogger(__name__)

BACKENDS = ("torch", "openvino", "onnx")
# The exported model's file, under the folder sentence-transformers looks in for each backend.
EXPORTED_FILE = {"openvino": "openvino/openvino_model.xml", "onnx": "onnx/model.onnx"}
# What each exported backend needs importable, and why it may be missing.
REQUIRED_MODULE = {"openvino": "optimum.intel", "onnx": "optimum.onnxruntime"}
MISSING_HINT = {
    "openvino": "optimum-intel is not installed (`make demo` installs it)",
    "onnx": (
        "optimum-onnx is not installed: its only release (0.1.0) requires transformers < 4.58, "
        "and sentence-transformers 6.2 requires transformers >= 5, so no set of these installs "
        "here; use openvino, torch or auto"
    ),
}
MIN_COSINE = 0.9999  # the adoption rule's floor: each sample vector against torch's
# On a shared machine one backend's timing moves by ±40% between runs: a backend must be clearly
# faster than torch to replace it.
MIN_SPEEDUP = 1.1
ROUNDS = 3
VERDICT_FILE = "embed-backend.json"


class BackendError(RuntimeError):
    """A backend cannot be used here: not installed, or not on this device; the message says."""


@dataclass(frozen=True)
class BackendTrial:
    """One backend on the sample: its speed (median of ROUNDS, sentences/s) and how far its
    vectors are from torch's (the smallest cosine); `error` where it could not run."""

    backend: str
    sentences_per_second: float = 0.0
    min_cosine: float = 0.0
    error: str | None = None

    @property
    def passes(self) -> bool:
        return self.error is None and self.min_cosine >= MIN_COSINE


def installed_backends() -> list[str]:
    """The backends this environment can load: torch always, the others where optimum's
    integration for them imports."""
    return ["torch"] + [b for b in BACKENDS[1:] if _has_module(REQUIRED_MODULE[b])]


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def require_backend(backend: str, device: str) -> None:
    """Raise BackendError where `backend` cannot run here: an exported backend on a device other
    than the CPU, or without its optimum integration installed."""
    if backend == "torch":
        return
    if device != "cpu":
        raise BackendError(f"embed.backend {backend!r} runs on the CPU; embed.device is {device!r}")
    if not _has_module(REQUIRED_MODULE[backend]):
        raise BackendError(f"embed.backend {backend!r} cannot be used: {MISSING_HINT[backend]}")


def load_model(
    path: Path,
    backend: str,
    device: str,
    digest: str,
    export_root: Path | None,
    precision: str = "f32",
):
    """A SentenceTransformer for the model folder `path` on `backend`.

    For openvino and onnx the model is exported from the local weights by sentence-transformers
    (optimum) on first use; with `export_root` the export is saved under
    `export_root/<backend>-<digest>-<library version>/` and loaded from there afterwards (an
    export takes ~6 s, a load from disk ~0.5 s). OpenVINO computes in `precision`: its own
    default on a CPU with bfloat16 units (AMX) is bf16, which moves vectors by ~3e-5 in cosine
    and flips links that sit on a threshold; "f32" keeps torch's results. Raises BackendError
    (see require_backend).
    """
    require_backend(backend, device)
    from sentence_transformers import SentenceTransformer

    options: dict[str, Any] = {"device": device}
    if backend != "torch":
        options["backend"] = backend
        # optimum sets its logger's level when its logging is first used: do that before the
        # libraries are quietened, or it would undo it halfway through the export.
        from optimum.utils import logging as optimum_logging

        optimum_logging.get_logger()
    if backend == "openvino":
        options["model_kwargs"] = {"ov_config": {"INFERENCE_PRECISION_HINT": precision}}
    with _quiet_libraries():
        if backend == "torch" or export_root is None:
            return SentenceTransformer(str(path), **options)
        folder = export_root / f"{backend}-{digest}-{_library_version(backend)}"
        if (folder / EXPORTED_FILE[backend]).is_file():
            try:
                return SentenceTransformer(str(folder), **options)
            except Exception as error:  # noqa: BLE001  (a damaged export is made again)
                log.warning(
                    "the exported model in %s cannot be loaded (%s: %s); exporting it again",
                    folder,
                    type(error).__name__,
                    _one_line(str(error)),
                )
                shutil.rmtree(folder, ignore_errors=True)
        elif folder.exists():  # left without its model file: replaced by the new export
            shutil.rmtree(folder, ignore_errors=True)
        model = SentenceTransformer(str(path), **options)
        _save_atomically(model, folder)
        return model


def _library_version(backend: str) -> str:
    package = {"openvino": "openvino", "onnx": "onnxruntime"}[backend]
    return importlib.metadata.version(package)


def _save_atomically(model, folder: Path) -> None:
    """Save an exported model so that another process never loads half of it; a folder that
    cannot be written leaves the export in memory for this process only."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        model.save_pretrained(str(staging))
        try:
            staging.rename(folder)
        except OSError:  # another process saved it first
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as error:
        log.warning(
            "exported model not saved in %s (%s); it is exported again next run",
            folder.parent,
            error,
        )


@contextlib.contextmanager
def _quiet_libraries():
    """Keep the libraries' load chatter out of a run's log: transformers' load report on a
    buffer the checkpoint carries and the model does not use (`embeddings.position_ids`), its
    weight-loading bar, optimum's notes and the export's tracer warnings. Errors still come
    through."""
    from transformers.utils import logging as transformers_logging

    names = ("transformers", "optimum", "nncf", "sentence_transformers")
    levels = {name: logging.getLogger(name).level for name in names}
    bars = transformers_logging.is_progress_bar_enabled()
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    transformers_logging.disable_progress_bar()  # "Loading weights": our progress is our own
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if bars:
            transformers_logging.enable_progress_bar()


def compare_backends(
    path: Path, digest: str, export_root: Path | None, texts: list[str], batch_size: int
) -> list[BackendTrial]:
    """Each installed backend against torch on `texts`: all models loaded first, then timed
    in turns over ROUNDS rounds (median), each backend's vectors compared with torch's."""
    models: dict[str, Any] = {}
    trials: dict[str, BackendTrial] = {}
    for backend in installed_backends():
        try:
            models[backend] = load_model(path, backend, "cpu", digest, export_root)
        except Exception as error:  # noqa: BLE001  (any failure rules the backend out, said)
            trials[backend] = BackendTrial(backend, error=f"{type(error).__name__}: {error}")
    if "torch" not in models:
        raise BackendError(f"the torch model does not load: {trials['torch'].error}")

    def encode(model) -> np.ndarray:
        return model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    for model in models.values():
        encode(model)  # the first call allocates; not part of the rate
    seconds: dict[str, list[float]] = {backend: [] for backend in models}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(ROUNDS):
        for backend, model in models.items():
            start = time.perf_counter()
            vectors[backend] = encode(model)
            seconds[backend].append(time.perf_counter() - start)
    for backend in models:
        cosine = float(np.min(np.sum(vectors[backend] * vectors["torch"], axis=1)))
        rate = len(texts) / statistics.median(seconds[backend])
        trials[backend] = BackendTrial(backend, rate, cosine)
    return [trials[b] for b in BACKENDS if b in trials]


def pick_backend(trials: list[BackendTrial]) -> str:
    """The fastest backend that passes the vector check and is at least MIN_SPEEDUP x torch;
    torch where none is."""
    torch_rate = next(t.sentences_per_second for t in trials if t.backend == "torch")
    faster = [
        t
        for t in trials
        if t.backend != "torch" and t.passes and t.sentences_per_second >= MIN_SPEEDUP * torch_rate
    ]
    return max(faster, key=lambda t: t.sentences_per_second).backend if faster else "torch"


def machine_fingerprint(model_key: str) -> dict[str, Any]:
    """What a verdict depends on: the model's weights, the libraries and the CPU."""
    packages = (
        "torch",
        "transformers",
        "sentence-transformers",
        "openvino",
        "optimum-intel",
        "onnxruntime",
        "optimum-onnx",
    )
    versions = {}
    for package in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {"model": model_key, "libraries": versions, "cpu": cpu_name(), "cores": os.cpu_count()}


def cpu_name() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it (else what `platform` knows)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or platform.machine()


def choose_backend(
    path: Path, model_key: str, digest: str, device: str, cache_dir: Path | None, batch_size: int
) -> str:
    """`embed.backend: auto`: the backend to use on this machine (see pick_backend).

    torch on any device but the CPU. Otherwise the verdict in `cache_dir/embed-backend.json`
    where it was made for this fingerprint (machine_fingerprint), else compare_backends on the
    sample (15 to 35 s on 2 cores, with the export) and the verdict saved there. A verdict is
    not saved where a backend failed: it is timed again next run.
    """
    if device != "cpu" or installed_backends() == ["torch"]:
        return "torch"
    fingerprint = machine_fingerprint(model_key)
    verdict_path = cache_dir / VERDICT_FILE if cache_dir else None
    saved = _read_verdict(verdict_path) if verdict_path else None
    if (
        saved
        and saved.get("fingerprint") == fingerprint
        and saved.get("backend") in installed_backends()
    ):
        log.info(
            "embed.backend auto: %s, as timed on this machine (%s; delete it to time again)",
            saved["backend"],
            verdict_path,
        )
        return saved["backend"]
    sample = background_sentences()
    log.info(
        "embed.backend auto: timing %s on %d sample sentences, in turns (once per "
        "machine and model)",
        ", ".join(installed_backends()),
        len(sample),
    )
    export_root = cache_dir / "models" if cache_dir else None
    trials = compare_backends(path, digest, export_root, sample, batch_size)
    chosen = pick_backend(trials)
    failed = [t for t in trials if t.error]
    if failed:
        # Not kept: a backend that failed this once (a damaged export, a full disk) would be
        # ruled out for good.
        log.warning(
            "embed.backend auto: %s for this run (%s); the backends are timed again next run",
            chosen,
            describe(trials),
        )
        return chosen
    log.info("embed.backend auto: %s (%s)", chosen, describe(trials))
    if verdict_path:
        verdict = {
            "fingerprint": fingerprint,
            "backend": chosen,
            "trials": [asdict(t) for t in trials],
        }
        _save_verdict(verdict_path, verdict)
    return chosen


def _read_verdict(path: Path) -> dict[str, Any] | None:
    """The saved verdict, or None where there is none or it is not one (timed again)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as error:
        log.warning("embed.backend auto: %s cannot be read (%s); timing again", path, error)
        return None
    if not isinstance(saved, dict):
        log.warning("embed.backend auto: %s is not a verdict; timing again", path)
        return None
    return saved


def _one_line(message: str, limit: int = 300) -> str:
    """A library's error as one log line, whatever it wrote (OpenVINO's span several)."""
    return " ".join(message.split())[:limit]


def describe(trials: list[BackendTrial]) -> str:
    """One line: each backend's rate, its speed against torch and its smallest cosine."""
    torch_rate = next(t.sentences_per_second for t in trials if t.backend == "torch")
    parts = []
    for trial in trials:
        if trial.error:
            parts.append(f"{trial.backend}: not usable ({_one_line(trial.error)})")
        elif trial.backend == "torch":
            parts.append(f"torch {trial.sentences_per_second:.0f} sentences/s")
        else:
            parts.append(
                f"{trial.backend} {trial.sentences_per_second / torch_rate:.2f}x torch, "
                f"min cosine {trial.min_cosine:.5f}"
                + ("" if trial.passes else f" (below {MIN_COSINE}: refused)")
            )
    return "; ".join(parts)


def _save_verdict(path: Path, verdict: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as handle:
            handle.write(json.dumps(verdict, indent=1))
    except OSError as error:
        log.warning("embed.backend verdict not saved in %s (%s)", path, error)
