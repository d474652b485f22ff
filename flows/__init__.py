"""Prefect layer over `pipeline/`: the align-articles flow, its deployment and a local server."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from pipeline.config import Config

# The folders a served flow run may read and write, set by `make serve` (flows/server.py) for
# the runner from its config's flow.allowed_roots: os.pathsep-separated absolute paths.
ALLOWED_ROOTS_VARIABLE = "PARALLAX_ALLOWED_ROOTS"


def run_paths(config: Config, input_dir: Path) -> dict[str, Path | None]:
    """The paths a flow run over `input_dir` with `config` reads or writes, by the name a
    refusal gives (None: not set)."""
    paths: dict[str, Path | None] = {
        "input_dir": input_dir,
        "output_dir": config.paths.output_dir,
        "cache_dir": config.paths.cache_dir,
        "translate.packages_dir": config.translate.packages_dir,
        **{f"tm_files[{i}]": path for i, path in enumerate(config.translate.tm_files)},
    }
    if config.collect.enabled:
        paths["collect.sources"] = config.collect.sources
    return paths


def outside_roots(paths: Mapping[str, Path | None], roots: Iterable[Path], base: Path) -> str:
    """Why the first of `paths` outside every one of `roots` is refused ("" when none is);
    relative paths are taken from `base`, the runner's working folder."""
    roots = list(roots)
    for name, path in paths.items():
        if path is not None and not any((base / path).resolve().is_relative_to(r) for r in roots):
            return (
                f"{name} {path} is outside the folders this server's runs may use "
                f"({', '.join(map(str, roots))}: flow.allowed_roots in its config)"
            )
    return ""
