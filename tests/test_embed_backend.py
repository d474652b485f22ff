"""embed.backend: the model exported by sentence-transformers to OpenVINO beside torch, the
adoption rule (pipeline/embed_backend.py) on the sample and on every gold set, and `auto`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from benchmarks import alignment as alignment_bench
from pipeline import embed_backend
from pipeline.background import background_sentences
from pipeline.config import ConfigError, EmbedConfig, load_config
from pipeline.embed import Embedder, EmbedError, encode_on_worker
from pipeline.embed_backend import (
    MIN_COSINE,
    BackendTrial,
    installed_backends,
    pick_backend,
)

needs_openvino = pytest.mark.skipif(
    "openvino" not in installed_backends(),
    reason="optimum-intel is not installed (`make demo` installs it)",
)
# The adoption rule's tolerance on precision, recall and F1 of each gold set.
GOLD_TOLERANCE = 0.005


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A cache folder where the OpenVINO export is made once for this module."""
    return tmp_path_factory.mktemp("embed-exports")


@pytest.fixture(scope="module")
def openvino(exports) -> Embedder:
    return Embedder(EmbedConfig(backend="openvino"), exports)


@needs_openvino
def test_openvino_vectors_are_within_the_rule_of_torchs_on_the_sample(openvino):
    texts = background_sentences()
    assert len(texts) == 240
    ours = openvino.encode(texts)
    torch = Embedder(EmbedConfig()).encode(texts)
    assert ours.shape == torch.shape == (240, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(ours * torch, axis=1))) >= MIN_COSINE


@needs_openvino
def test_the_export_is_kept_under_the_weights_digest_and_loaded_from_there(openvino, exports):
    openvino.encode(["The export happens on first use."])
    (folder,) = (exports / "models").iterdir()
    assert folder.name.startswith(f"openvino-{openvino.weights_digest}-")
    exported = folder / "openvino" / "openvino_model.xml"
    made = exported.stat().st_mtime_ns
    again = Embedder(EmbedConfig(backend="openvino"), exports)
    np.testing.assert_allclose(
        again.encode(["Loaded, not exported again."]),
        openvino.encode(["Loaded, not exported again."]),
        atol=1e-6,
    )
    assert exported.stat().st_mtime_ns == made
    assert [p.name for p in (exports / "models").iterdir()] == [folder.name]


@needs_openvino
def test_vectors_of_another_backend_are_cached_apart_and_a_worker_uses_the_runs(openvino):
    torch = Embedder(EmbedConfig())
    assert openvino.cache_key == f"{torch.cache_key}@openvino"
    assert openvino.settings["model"] != torch.settings["model"]  # an embedding server refuses

    def map_here(name, function, spec, chunks):
        return (function(spec, chunk) for chunk in chunks)

    texts = ["The bridge reopened on Monday.", "Traffic was light."]
    np.testing.assert_allclose(
        openvino.encode(texts, map_chunks=map_here), openvino.encode(texts), atol=1e-6
    )
    with pytest.raises(Exception, match="not the run's"):
        encode_on_worker((torch.config, None, openvino.cache_key), texts)


@needs_openvino
@pytest.mark.parametrize("gold_set", alignment_bench.GOLD_SETS, ids=lambda g: g.name)
def test_openvino_alignments_score_as_torchs_on_every_gold_set(
    gold_set, exports, tmp_path, request
):
    """The gold part of the adoption rule: precision, recall and F1 within ±0.005 of torch's."""
    if gold_set.name.startswith("seeds"):
        request.getfixturevalue("seeds_dir")  # skips, saying why, without ../shared
    scores = {}
    for backend in ("torch", "openvino"):
        work = tmp_path / backend
        work.mkdir()
        # The exports folder is the cache: the translations are shared, the vectors are not.
        result = alignment_bench.evaluate_set(
            gold_set, work, exports, [f"embed.backend={backend}"], baseline=False
        )
        scores[backend] = result["parallax"]
    torch, ours = scores["torch"], scores["openvino"]
    assert torch.strong > 0
    for name in ("precision", "recall", "f1"):
        assert abs(getattr(ours, name) - getattr(torch, name)) <= GOLD_TOLERANCE, (name, ours)


@needs_openvino
def test_auto_times_the_backends_once_and_keeps_the_verdict(tmp_path, monkeypatch):
    chosen = Embedder(EmbedConfig(backend="auto"), tmp_path).backend
    verdict = json.loads((tmp_path / "embed-backend.json").read_text())
    trials = [BackendTrial(**t) for t in verdict["trials"]]
    assert [t.backend for t in trials] == installed_backends()
    assert verdict["backend"] == chosen == pick_backend(trials)
    assert all(t.passes and t.sentences_per_second > 0 for t in trials)

    def refuse(*args, **kwargs):
        raise AssertionError("timed again although the verdict is for this machine")

    monkeypatch.setattr(embed_backend, "compare_backends", refuse)
    again = Embedder(EmbedConfig(backend="auto"), tmp_path)
    assert again.backend == chosen
    assert again.cache_key.endswith("" if chosen == "torch" else f"@{chosen}")

    # Another machine's verdict (other CPU) is not taken.
    verdict["fingerprint"]["cpu"] = "another CPU"
    (tmp_path / "embed-backend.json").write_text(json.dumps(verdict))
    with pytest.raises(AssertionError, match="timed again"):
        _ = Embedder(EmbedConfig(backend="auto"), tmp_path).backend


def test_the_fastest_backend_that_passes_the_rule_is_picked():
    torch = BackendTrial("torch", 300.0, 1.0)
    assert pick_backend([torch, BackendTrial("openvino", 700.0, 0.99998)]) == "openvino"
    # vectors too far from torch's (as int8 quantisation gives): refused however fast
    assert pick_backend([torch, BackendTrial("openvino", 900.0, 0.93)]) == "torch"
    # within the machine's noise of torch: not worth a second set of vectors
    assert pick_backend([torch, BackendTrial("openvino", 310.0, 0.99999)]) == "torch"
    assert pick_backend([torch, BackendTrial("onnx", error="ImportError: no optimum")]) == "torch"
    assert (
        pick_backend(
            [torch, BackendTrial("openvino", 500.0, 0.99999), BackendTrial("onnx", 600.0, 1.0)]
        )
        == "onnx"
    )


def test_auto_is_torch_off_the_cpu_without_timing(tmp_path, monkeypatch):
    monkeypatch.setattr(embed_backend, "compare_backends", None)  # would fail if called
    config = EmbedConfig(backend="auto", device="cuda")
    assert Embedder(config, tmp_path).backend == "torch"


def test_a_backend_that_cannot_run_here_is_refused_with_the_reason():
    with pytest.raises(EmbedError, match="runs on the CPU; embed.device is 'cuda'"):
        Embedder(EmbedConfig(backend="openvino", device="cuda"))
    if "onnx" not in installed_backends():
        with pytest.raises(EmbedError, match="optimum-onnx is not installed.*transformers < 4.58"):
            Embedder(EmbedConfig(backend="onnx"))


def test_an_unknown_backend_or_one_that_cannot_run_here_is_a_config_error_naming_the_key():
    """Refused with the configuration (exit 2), before a run writes anything."""
    with pytest.raises(ConfigError, match="embed.backend: expected one of"):
        load_config(overrides={"embed": {"backend": "tensorrt"}})
    with pytest.raises(ConfigError, match="embed.backend 'openvino' runs on the CPU"):
        load_config(overrides={"embed": {"backend": "openvino", "device": "cuda"}})
    if "onnx" not in installed_backends():
        with pytest.raises(ConfigError, match="embed.backend 'onnx' cannot be used"):
            load_config(overrides={"embed": {"backend": "onnx"}})
    assert load_config(overrides={"embed": {"backend": "auto", "device": "cuda"}})


@needs_openvino
@pytest.mark.parametrize("text", ["", "garbage{", "[]", '"openvino"', "42", "null", "[" * 5000])
def test_a_verdict_that_is_not_one_is_timed_again_with_a_warning(text, tmp_path, caplog):
    (tmp_path / "embed-backend.json").write_text(text)
    timed = []

    def compare(*args, **kwargs):
        timed.append(True)
        return [BackendTrial("torch", 300.0, 1.0), BackendTrial("openvino", 310.0, 1.0)]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embed_backend, "compare_backends", compare)
        assert Embedder(EmbedConfig(backend="auto"), tmp_path).backend == "torch"
    assert timed == [True]
    assert "timing again" in caplog.text
    assert json.loads((tmp_path / "embed-backend.json").read_text())["backend"] == "torch"


def test_a_verdict_with_a_failed_backend_is_not_kept(tmp_path, caplog, monkeypatch):
    """A backend that failed once (a damaged export, a full disk) is not ruled out for good."""
    trials = [BackendTrial("torch", 300.0, 1.0), BackendTrial("openvino", error="Runtime\nError")]
    monkeypatch.setattr(embed_backend, "installed_backends", lambda: ["torch", "openvino"])
    monkeypatch.setattr(embed_backend, "compare_backends", lambda *args, **kwargs: trials)
    assert Embedder(EmbedConfig(backend="auto"), tmp_path).backend == "torch"
    assert not (tmp_path / "embed-backend.json").exists()
    assert "timed again next run" in caplog.text


@needs_openvino
def test_a_damaged_export_is_made_again_with_a_warning(openvino, exports, tmp_path, caplog):
    """As a cache file SQLite cannot read is rebuilt: the export is derived, made in seconds."""
    cache = tmp_path / "cache"
    openvino.encode(["The module's export exists."])
    shutil.copytree(exports / "models", cache / "models")  # as a first run left it
    Embedder(EmbedConfig(backend="openvino"), cache).encode(["First run: loaded."])
    (folder,) = (cache / "models").iterdir()
    (folder / "openvino" / "openvino_model.bin").write_bytes(b"cut short")
    again = Embedder(EmbedConfig(backend="openvino"), cache)
    vectors = again.encode(["Second run: the export is damaged."])
    np.testing.assert_allclose(
        vectors, openvino.encode(["Second run: the export is damaged."]), atol=1e-6
    )
    assert "cannot be loaded" in caplog.text and "exporting it again" in caplog.text
    assert (folder / "openvino" / "openvino_model.bin").stat().st_size > 10_000  # made again

    # A folder left without its model file is replaced by a new export, and kept this time.
    (folder / "openvino" / "openvino_model.xml").unlink()
    Embedder(EmbedConfig(backend="openvino"), cache).encode(["Third run."])
    assert (folder / "openvino" / "openvino_model.xml").is_file()


@needs_openvino
def test_a_backend_that_fails_to_load_is_an_embed_error_naming_it(tmp_path):
    """Not a traceback from optimum: the run's one line names the backend."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "no-such-architecture"}')
    embedder = Embedder(EmbedConfig(model=str(model), backend="openvino"), tmp_path / "cache")
    with pytest.raises(EmbedError, match="embed.backend 'openvino' failed to load the model"):
        embedder.encode(["Nothing to load."])
