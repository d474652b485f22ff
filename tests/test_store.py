import sqlite3
import time

import numpy as np

from pipeline.store import Store


def test_translations_round_trip_and_are_keyed_by_model(tmp_path):
    store = Store(tmp_path)
    store.put_translations("model-a", [("h1", "one"), ("h2", "two")])
    assert store.get_translations("model-a", ["h1", "h2", "h3"]) == {"h1": "one", "h2": "two"}
    assert store.get_translations("model-b", ["h1"]) == {}


def test_embeddings_round_trip_as_float32(tmp_path):
    store = Store(tmp_path)
    vector = np.array([0.6, 0.8], dtype=np.float32)
    store.put_embeddings("st", [("h", vector)])
    found = Store(tmp_path).get_embeddings("st", ["h"])  # a second connection sees the commit
    assert found["h"].dtype == np.float32
    np.testing.assert_array_equal(found["h"], vector)


def test_lookup_of_more_keys_than_sqlite_binds_at_once(tmp_path):
    store = Store(tmp_path)
    items = [(f"h{i}", f"t{i}") for i in range(2000)]
    store.put_translations("m", items)
    assert store.get_translations("m", [h for h, _ in items]) == dict(items)


def test_corrupted_cache_file_is_set_aside_and_rebuilt(tmp_path, caplog):
    (tmp_path / "cache.sqlite3").write_bytes(b"this is not a database" * 100)
    store = Store(tmp_path)
    store.put_translations("m", [("h", "t")])
    assert store.get_translations("m", ["h"]) == {"h": "t"}
    assert list(tmp_path.glob("cache.sqlite3.corrupt-*"))
    assert "unreadable" in caplog.text


def test_a_damaged_page_is_found_by_the_daily_integrity_check_and_set_aside(tmp_path, caplog):
    store = Store(tmp_path)
    store.put_translations("m", [(f"h{i}", "text " * 40) for i in range(2000)])
    store.close()
    path = tmp_path / "cache.sqlite3"
    with sqlite3.connect(path) as db:  # checked two days ago; the file is damaged since
        db.execute("UPDATE integrity_checked SET at = ?", (time.time() - 2 * 86400,))
    db.close()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle : middle + 4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))
    fresh = Store(tmp_path)
    assert list(tmp_path.glob("cache.sqlite3.corrupt-*")) and "unreadable" in caplog.text
    assert fresh.get_translations("m", ["h1"]) == {}


def test_the_integrity_check_runs_at_most_once_a_day(tmp_path):
    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / "cache.sqlite3") as db:
        (first,) = db.execute("SELECT at FROM integrity_checked").fetchone()
    Store(tmp_path).close()  # opened again within the day: not checked again
    with sqlite3.connect(tmp_path / "cache.sqlite3") as db:
        assert db.execute("SELECT at FROM integrity_checked").fetchall() == [(first,)]
