"""The `parallax` console script as a user runs it: exit codes and what it prints."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PARALLAX = Path(sys.executable).parent / "parallax"


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
    assert "skipped 1 ru sentences" in lines[1] and "`parallax models install ru`" in lines[1]
    assert (
        lines[-1].startswith("outputs: ")
        and (tmp_path / "outputs" / "latest" / "run.json").is_file()
    )
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


def test_missing_input_exits_1_without_traceback(tmp_path):
    done = parallax("run", "--input", "nowhere", tmp_path=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "parallax: input folder not found: nowhere"


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
    assert "uk: 1 sentences (run `parallax models install uk`)" in done.stderr
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
