"""Shared fixtures: the seed pages beside the project, when they are there; the demo's run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Before anything imports prefect: no telemetry, no network, in every test.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SEEDS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "seeds"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """`make demo`'s run, as `parallax run` (the sample corpus and its translation memory):
    the run folder. Its stdout is in run-stdout.txt beside the output folder."""
    work = tmp_path_factory.mktemp("sample-run")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "parallax"), "run", "--input",
         str(SAMPLE / "articles"), "--tm", str(SAMPLE / "tm.tsv"), "--output",
         str(work / "out"), "--cache-dir", str(work / "cache")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (work / "run-stdout.txt").write_text(done.stdout, encoding="utf-8")
    return (work / "out" / "latest").resolve()


@pytest.fixture
def seeds_dir() -> Path:
    if not SEEDS_DIR.is_dir():
        pytest.skip(
            f"seed pages not found at {SEEDS_DIR} "
            "(they sit beside a team checkout and in CI, not in a user's clone)"
        )
    return SEEDS_DIR


@pytest.fixture
def seed_text(seeds_dir: Path):
    """Read a seed page by its number prefix, e.g. seed_text("002")."""

    def read(prefix: str) -> str:
        (path,) = seeds_dir.glob(f"{prefix}_*.txt")
        return path.read_text(encoding="utf-8")

    return read


@pytest.fixture(scope="session")
def tiny_model_files(tmp_path_factory) -> dict[str, Path]:
    """Real `.argosmodel` files (random weights) for ru→en and uk→en, built once per session."""
    from pipeline.translate.synthetic import build_argosmodel

    folder = tmp_path_factory.mktemp("argosmodels")
    return {
        lang: build_argosmodel(folder / f"{lang}_en.argosmodel", lang, seed=index)
        for index, lang in enumerate(("ru", "uk"))
    }


@pytest.fixture(scope="session")
def installed_packages_dir(tmp_path_factory, tiny_model_files) -> Path:
    """A packages folder with both tiny models installed by argostranslate's own installer."""
    from pipeline.translate.packages import install_file

    folder = tmp_path_factory.mktemp("packages")
    for path in tiny_model_files.values():
        install_file(path, folder)
    return folder
