"""The `parallax` console script as a user runs it: exit codes and what it prints."""

import contextlib
import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PARALLAX = Path(sys.executable).parent / "parallax"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def parallax(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        # An index address that refuses at once, so "no network" is tested the same everywhere.
        "ARGOS_PACKAGE_INDEX": "http://127.0.0.1:9/",
        **env,
    }
    return subprocess.run(
        [str(PARALLAX), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=300,
    )


@pytest.fixture(autouse=True)
def _needs_console_script():
    if not PARALLAX.exists():
        pytest.skip(f"console script not installed at {PARALLAX} (run `make test`)")


def test_run_prints_summary_skipped_languages_and_output_folder(tmp_path):
    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / "en.txt").write_text(
        "NATO allies condemned the move. The river is calm.\n", encoding="utf-8"
    )
    (corpus / "ru.txt").write_text("Союзники по НАТО осудили этот шаг.\n", encoding="utf-8")
    (corpus / "notes.pdf").write_bytes(b"%PDF-1.4")
    packages = tmp_path / "packages"
    config = tmp_path / "config.yaml"
    config.write_text(f"translate:\n  packages_dir: {packages}\n", encoding="utf-8")

    done = parallax("run", "--input", "in", "--config", str(config), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("2 articles, 3 sentences")
    assert "1 rejected inputs" in lines[0]
    assert "skipped 1 ru sentences" in lines[1]
    assert_pasteable(re.search(r"install it with `([^`]+)`", lines[1])[1], "ru", tmp_path)
    # The Russian page may carry what the English one says: uniqueness is not claimed outright.
    assert lines[2] == (
        "unique.csv is partial: 2 of its 2 sentences were not compared with the 1 sentences "
        "that have no English side (column `unchecked`); one of those may carry them"
    )
    with (tmp_path / "outputs" / "latest" / "unique.csv").open(encoding="utf-8") as unique:
        assert [row["unchecked"] for row in csv.DictReader(unique)] == ["1", "1"]
    assert lines[-2].startswith("outputs: ") and lines[-1].startswith("report: ")
    report = tmp_path / lines[-1].removeprefix("report: ")  # relative to where it ran
    assert report.is_file() and report.parent.samefile(tmp_path / "outputs" / "latest")
    assert "Traceback" not in done.stderr


def test_bad_config_exits_2_with_one_line_naming_the_key(tmp_path):
    (tmp_path / "in").mkdir()
    config = tmp_path / "bad.yaml"
    config.write_text("align:\n  margin_treshold: 1.2\n", encoding="utf-8")
    done = parallax("run", "--input", "in", "--config", str(config), tmp_path=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("parallax: config error: align.margin_treshold: unknown key (known: ")
    assert "margin_threshold" in line


def test_executor_dask_is_refused_by_parallax_run_with_where_it_runs(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("The river was closed.\n", encoding="utf-8")
    config = tmp_path / "dask.yaml"
    config.write_text("executor: dask\ndask:\n  workers: 0\n", encoding="utf-8")
    done = parallax("run", "--input", "in", "--config", str(config), tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "parallax: config error: dask.workers: expected an integer >= 1, got 0"
    )
    config.write_text('executor: dask\ndask:\n  address: " "\n', encoding="utf-8")
    done = parallax("run", "--input", "in", "--config", str(config), tmp_path=tmp_path)
    assert done.stderr.strip() == (
        "parallax: config error: dask.address: expected a scheduler address (tcp://host:8786) "
        "or null, got ' '"
    )
    config.write_text("executor: dask\n", encoding="utf-8")
    done = parallax("run", "--input", "in", "--config", str(config), tmp_path=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "executor: dask runs in the align-articles flow (make serve" in line
    assert not (tmp_path / "outputs").exists()


def assert_pasteable(command: str, lang: str, cwd: Path) -> None:
    """`command` runs as pasted into a shell in `cwd`: its program is found from there."""
    program, *rest = shlex.split(command)
    assert rest == ["models", "install", lang]
    assert shutil.which(program, path=os.environ["PATH"]) or (cwd / program).is_file(), command


def test_install_command_is_plain_parallax_where_the_script_is_on_path(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "uk.txt").write_text("Вода в річці безпечна.\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(f"translate:\n  packages_dir: {tmp_path / 'packages'}\n", encoding="utf-8")
    path = f"{PARALLAX.parent}{os.pathsep}{os.environ['PATH']}"
    done = parallax("run", "--input", "in", "--config", str(config), tmp_path=tmp_path, PATH=path)
    assert done.returncode == 0, done.stderr
    assert "install it with `parallax models install uk`" in done.stdout


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (None, ("--input", "nowhere"), "parallax: input folder not found: nowhere"),
        ("file", ("--input", "thing"), "parallax: input thing is a file, not a folder"),
        ("file", ("--input", "in", "--output", "thing"), "parallax: output folder thing is a file"),
        (
            "file",
            ("--input", "in", "--output", "thing/runs"),
            "parallax: output folder thing/runs cannot be created: thing is a file",
        ),
        ("dir", ("--input", "in", "--config", "thing"), "config thing is a folder, not a file"),
    ],
)
def test_bad_paths_exit_2_with_one_line_and_change_nothing(tmp_path, make, args, message):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("The river is calm today.\n", encoding="utf-8")
    if make == "file":
        (tmp_path / "thing").write_text("not a folder\n", encoding="utf-8")
    elif make == "dir":
        (tmp_path / "thing").mkdir()
    before = sorted(tmp_path.rglob("*"))
    done = parallax("run", *args, tmp_path=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert message in line
    assert sorted(tmp_path.rglob("*")) == before


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` made unwritable even for root (which ignores modes): immutable, via chattr."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield
        folder.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root, and chattr +i is not allowed here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("out", "parallax: output folder out is not writable"),
        ("out/runs", "parallax: output folder out/runs is not writable (cannot be created in out)"),
    ],
)
def test_output_folder_that_is_not_writable_is_named(tmp_path, output, message):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("The river is calm today.\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    with read_only(tmp_path / "out"):
        done = parallax("run", "--input", "in", "--output", output, tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == message
    assert not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"align:\n  k: [\n", "is not valid YAML: "),
        (b"align:\n  k: 3\xff\n", "is not UTF-8 text (byte 0xff at offset 13)"),
    ],
)
def test_bad_config_file_is_one_line_naming_the_file(tmp_path, content, problem):
    (tmp_path / "in").mkdir()
    (tmp_path / "bad.yaml").write_bytes(content)
    done = parallax("run", "--input", "in", "--config", "bad.yaml", tmp_path=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"parallax: config error: config file bad.yaml {problem}")


def test_empty_input_or_only_rejected_files_writes_no_run_and_keeps_latest(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("The river is calm today.\n", encoding="utf-8")
    assert parallax("run", "--input", "in", tmp_path=tmp_path).returncode == 0
    latest = (tmp_path / "outputs" / "latest").resolve()
    runs = sorted((tmp_path / "outputs").iterdir())

    (tmp_path / "empty").mkdir()
    done = parallax("run", "--input", "empty", tmp_path=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "parallax: nothing was read: empty holds no article file; no run written, latest kept"
    )
    (tmp_path / "rejected").mkdir()
    (tmp_path / "rejected" / "notes.pdf").write_bytes(b"%PDF-1.4")
    done = parallax("run", "--input", "rejected", tmp_path=tmp_path)
    assert done.returncode == 1
    assert "all 1 inputs rejected (notes.pdf: unsupported file type '.pdf')" in done.stderr
    assert sorted((tmp_path / "outputs").iterdir()) == runs
    assert (tmp_path / "outputs" / "latest").resolve() == latest


def test_version_and_a_commands_own_usage_for_an_unknown_flag(tmp_path):
    version = parallax("--version", tmp_path=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == "parallax 0.1.0"
    done = parallax("run", "--input", "in", "--bogus", tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: parallax run ")
    assert "parallax run: error: unrecognized arguments: --bogus" in done.stderr


def test_an_installed_wheel_works_without_the_project_folder(tmp_path):
    """`pip install .` (not editable): the default configuration travels with the package."""
    wheels, site, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    # Built from a copy: setuptools writes its build/ folder beside the sources.
    shutil.copytree(PROJECT_ROOT / "pipeline", source / "pipeline")
    shutil.copytree(PROJECT_ROOT / "flows", source / "flows")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)

    def pip(*args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "--quiet", *args],
            capture_output=True, text=True, cwd=tmp_path, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source))
    pip("install", "--no-deps", "--target", str(site), str(next(wheels.glob("*.whl"))))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("The river is calm today.\n", encoding="utf-8")
    program = (
        "import sys, pipeline; from pipeline.cli import main\n"
        "assert pipeline.__file__.startswith(sys.argv[1]), pipeline.__file__\n"
        "sys.exit(main(['run', '--input', 'in']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(site)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "outputs" / "latest" / "sentences.csv").is_file()


def test_fail_mode_names_language_and_install_command(tmp_path):
    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / "uk.txt").write_text(
        "Вода в річці безпечна, заявило міністерство.\n", encoding="utf-8"
    )
    config = tmp_path / "config.yaml"
    config.write_text(f"translate:\n  packages_dir: {tmp_path / 'packages'}\n", encoding="utf-8")
    done = parallax(
        "run",
        "--input",
        "in",
        "--config",
        str(config),
        "--on-missing-model",
        "fail",
        tmp_path=tmp_path,
    )
    assert done.returncode == 1
    assert_pasteable(
        re.search(r"uk: 1 sentences \(run `([^`]+)`\)", done.stderr)[1], "uk", tmp_path
    )
    assert not (tmp_path / "outputs" / "latest").exists()


def test_models_install_file_list_and_remove(tmp_path, tiny_model_files):
    config = tmp_path / "config.yaml"
    config.write_text(f"translate:\n  packages_dir: {tmp_path / 'packages'}\n", encoding="utf-8")
    installed = parallax(
        "models",
        "--config",
        str(config),
        "install",
        "--file",
        str(tiny_model_files["uk"]),
        tmp_path=tmp_path,
    )
    assert installed.returncode == 0, installed.stderr
    assert "installed uk→en version 0.0.1" in installed.stdout
    listed = parallax("models", "--config", str(config), "list", tmp_path=tmp_path)
    assert "uk→en  version 0.0.1" in listed.stdout
    removed = parallax("models", "--config", str(config), "remove", "uk", tmp_path=tmp_path)
    assert removed.returncode == 0 and "removed uk→en" in removed.stdout
    assert (
        "no models installed"
        in parallax("models", "--config", str(config), "list", tmp_path=tmp_path).stdout
    )


def test_online_install_without_network_names_the_offline_command(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"translate:\n  packages_dir: {tmp_path / 'packages'}\n", encoding="utf-8")
    done = parallax("models", "--config", str(config), "install", "ru", tmp_path=tmp_path)
    assert done.returncode == 1
    assert "cannot reach the Argos package index" in done.stderr
    assert "parallax models install --file PATH.argosmodel" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_malformed_translation_memory_fails_before_any_work(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("The river is calm today.\n", encoding="utf-8")
    (tmp_path / "bad.tsv").write_text("one column only\n", encoding="utf-8")
    done = parallax("run", "--input", "in", "--tm", "bad.tsv", tmp_path=tmp_path)
    assert done.returncode == 2
    warning, line = done.stderr.strip().splitlines()
    assert "bad.tsv:1: expected 2 columns (source, English), found 1; row skipped" in warning
    assert line == "parallax: no entry could be read from bad.tsv: 0 entries, skipped bad row: 1"
    assert "finished in" not in done.stderr  # not even ingest ran
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "data").exists()


def test_a_link_planted_as_the_lock_file_is_refused_and_its_target_kept(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("The river is calm today.\n", encoding="utf-8")
    (tmp_path / "precious.txt").write_text("keep me\n", encoding="utf-8")
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / ".parallax.lock").symlink_to(tmp_path / "precious.txt")
    done = parallax("run", "--input", "in", tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "parallax: outputs/.parallax.lock is a symbolic link, not the run's lock file; "
        "remove it and run again"
    )
    assert (tmp_path / "precious.txt").read_text(encoding="utf-8") == "keep me\n"


def test_a_run_folder_is_not_open_to_other_users_and_files_follow_the_umask(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("The river is calm today.\n", encoding="utf-8")
    done = subprocess.run(
        ["sh", "-c", f"umask 022 && exec {PARALLAX} run --input in"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir = (tmp_path / "outputs" / "latest").resolve()
    for folder in (tmp_path / "outputs", run_dir):
        assert folder.stat().st_mode & 0o777 == 0o750, folder
    assert (run_dir / "sentences.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "data" / "cache").stat().st_mode & 0o777 == 0o700  # holds every sentence
