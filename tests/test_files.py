"""atomic_file: a reader sees the old file or the whole new one, whoever else writes."""

import os
import stat

import pytest

from pipeline.files import atomic_file


def test_two_writers_of_one_path_each_rename_a_whole_file(tmp_path):
    # A run and the embedding server may save the backend verdict at once: with one shared
    # temporary name the second writer truncated the first's file and its rename failed.
    path = tmp_path / "verdict.json"
    with atomic_file(path) as first:
        first.write("first " * 1000)
        with atomic_file(path) as second:
            second.write("second")
        assert path.read_text(encoding="utf-8") == "second"
    assert path.read_text(encoding="utf-8") == "first " * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verdict.json"]


def test_a_failed_block_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_file(path) as handle:
        handle.write("half")
        raise RuntimeError("disk gone")
    assert path.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_the_file_mode_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "report.html") as handle:
            handle.write("<p>")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
