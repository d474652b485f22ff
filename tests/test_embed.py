import numpy as np
import pytest

from pipeline.chunks import ChunkError
from pipeline.config import EmbedConfig
from pipeline.embed import Embedder, EmbedError, embed_texts, encode_on_worker
from pipeline.store import Store


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(EmbedConfig())


def test_bundled_minilm_gives_normalised_384_d_vectors_offline(embedder, tmp_path):
    vectors, encoded = embed_texts(
        ["NATO condemned the deployment.", "The river is clean."], embedder, Store(tmp_path)
    )
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoded == 2


def test_paraphrases_are_closer_than_unrelated_sentences(embedder, tmp_path):
    vectors, _ = embed_texts(
        [
            "NATO allies strongly condemn the decision.",
            "The alliance sharply condemned the decision.",
            "Bread prices rose in May.",
        ],
        embedder,
        Store(tmp_path),
    )
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_duplicates_are_encoded_once_and_reruns_come_from_the_store(
    embedder, tmp_path, monkeypatch
):
    store = Store(tmp_path)
    texts = ["Same sentence.", "Other sentence.", "Same sentence."]
    first, encoded = embed_texts(texts, embedder, store)
    assert encoded == 2
    np.testing.assert_array_equal(first[0], first[2])

    def refuse(*args, **kwargs):
        raise AssertionError("encode called on a cached text")

    monkeypatch.setattr(embedder, "encode", refuse)
    again, encoded = embed_texts(texts, embedder, store)
    assert encoded == 0
    np.testing.assert_allclose(again, first, atol=1e-6)


def test_cache_key_names_the_model_and_its_weights(embedder):
    assert embedder.cache_key.startswith("st:all-MiniLM-L6-v2#")
    assert len(embedder.cache_key.split("#")[1]) == 16


def test_unknown_model_name_is_a_clear_error(tmp_path):
    with pytest.raises(EmbedError, match="embed.model: 'no-such-model'"):
        Embedder(EmbedConfig(model="no-such-model"))


def test_a_worker_encodes_as_this_process_does_and_refuses_another_model(embedder):
    texts = ["The river was closed to boats.", "Officials said the water is safe."]

    def map_here(name, function, spec, chunks):
        return (function(spec, chunk) for chunk in chunks)

    assert np.allclose(embedder.encode(texts, map_chunks=map_here), embedder.encode(texts))
    with pytest.raises(ChunkError, match="not the run's"):
        encode_on_worker((embedder.config, None, "st:all-MiniLM-L6-v2#other-weights"), texts)
