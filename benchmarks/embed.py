"""Embed stage against raw `SentenceTransformer.encode`, and the ONNX backends beside torch.

Both sides embed the same unique English sentences with the bundled all-MiniLM-L6-v2. The
pipeline side is `embed_texts` with a cold store, so it also pays for hashing and SQLite.

ONNX: the model is exported offline from the local weights with `torch.onnx.export` (needs the
`onnx` package) and run with onnxruntime, fp32 and dynamically quantised int8. A backend is
worth keeping only if the alignments it leads to are the same as torch's.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import Measurement, alternate, log
from benchmarks.synthetic_corpus import STATEMENTS_PER_EVENT, _statement
from pipeline.align import align
from pipeline.config import AlignConfig, EmbedConfig
from pipeline.embed import Embedder, embed_texts, resolve_model_path
from pipeline.records import Sentence
from pipeline.store import Store

BATCH_SIZE = EmbedConfig().batch_size


def english_articles(articles: int, seed: int = 0) -> list[Sentence]:
    """Sentences of English articles that share statements within events (for alignment)."""
    rng = random.Random(seed)
    events = [
        [_statement(rng) for _ in range(STATEMENTS_PER_EVENT)] for _ in range(articles // 8 + 1)
    ]
    sentences = []
    for number in range(articles):
        event = rng.choice(events)
        picked = rng.sample(event, 7) + [_statement(rng) for _ in range(5)]
        rng.shuffle(picked)
        sentences += [
            Sentence(
                f"a{number:05d}",
                f"outlet{number % 5}",
                position,
                s.text("en"),
                "en",
                s.text("en"),
                "original",
            )  # fmt: skip
            for position, s in enumerate(picked)
        ]
    return sentences


def _sentence_transformer():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(resolve_model_path(EmbedConfig().model)), device="cpu")


def _raw_encode(texts: list[str]) -> np.ndarray:
    model = _sentence_transformer()
    return model.encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True)


def _pipeline_embed(texts: list[str], config: EmbedConfig) -> np.ndarray:
    with tempfile.TemporaryDirectory() as cache_dir:
        store = Store(Path(cache_dir))
        try:
            vectors, encoded = embed_texts(texts, Embedder(config), store)
        finally:
            store.close()
    assert encoded == len(set(texts))
    return vectors


class OnnxEncoder:
    """MiniLM through onnxruntime: tokenise, length-sorted batches, mean pooling, normalise."""

    def __init__(self, model_file: Path, tokenizer):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(
            str(model_file), providers=["CPUExecutionProvider"]
        )
        self.tokenizer = tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            batch = self.tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=256,
                return_tensors="np",
            )  # fmt: skip
            inputs = {k: batch[k].astype(np.int64) for k in ("input_ids", "attention_mask",
                                                             "token_type_ids")}  # fmt: skip
            (hidden,) = self.session.run(None, inputs)
            mask = inputs["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


def export_onnx(folder: Path) -> tuple[Path, Path]:
    """fp32 and int8 ONNX files of the bundled MiniLM, exported from its local weights."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = _sentence_transformer()
    bert = model[0].auto_model.eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = model.tokenizer(["a sample", "another sample sentence"], padding=True,
                             return_tensors="pt")  # fmt: skip
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fp32 = folder / "minilm.onnx"
    torch.onnx.export(
        LastHidden(bert), tuple(sample[n] for n in names), str(fp32), input_names=names,
        output_names=["last_hidden_state"], opset_version=17, dynamo=False,
        dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
    )  # fmt: skip
    int8 = folder / "minilm-int8.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return fp32, int8


def _alignment_keys(sentences: list[Sentence], vectors: np.ndarray) -> set[tuple]:
    found = align(sentences, vectors, AlignConfig())
    return {(x.a.article_id, x.a.position, x.b.article_id, x.b.position) for x in found}


def _backends(texts: list[str], torch_vectors: np.ndarray, articles: int) -> list[Measurement]:
    """ONNX fp32 and int8 against torch encode (both models loaded before the clock starts):
    speed in turns, agreement, same alignments or not."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
    except ImportError:
        return [Measurement("embed_backend[onnx]", 0, 0, 0, "", "sentences/s",
                            "not measured: the `onnx` package is not installed")]  # fmt: skip
    sentences = english_articles(articles)  # whose alignments must not change
    align_texts = list(dict.fromkeys(s.english for s in sentences))
    row_of = {text: row for row, text in enumerate(align_texts)}
    rows = [row_of[s.english] for s in sentences]
    reference = _alignment_keys(sentences, _raw_encode(align_texts)[rows])
    # Control: torch itself with another batch size moves vectors by float noise only; the
    # alignments that flip then are exact ties (repeated statements), not a backend's error.
    rebatched = _sentence_transformer().encode(align_texts, batch_size=BATCH_SIZE // 2,
                                               normalize_embeddings=True)  # fmt: skip
    control = len(_alignment_keys(sentences, rebatched[rows]) ^ reference)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        log.info("embed: exporting MiniLM to ONNX (fp32, int8)")
        files = export_onnx(Path(folder))
        torch_model = _sentence_transformer()
        torch_model.encode(texts[:BATCH_SIZE])  # first run allocates; not part of the rate
        for label, path in zip(("onnx-fp32", "onnx-int8"), files, strict=True):
            encoder = OnnxEncoder(path, torch_model.tokenizer)
            encoder.encode(texts[:BATCH_SIZE])
            log.info("embed: %s and torch in turns", label)
            vectors, _, turns = alternate(
                lambda encoder=encoder: encoder.encode(texts),
                lambda: torch_model.encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True),
            )
            agreement = float(np.min(np.sum(vectors * torch_vectors, axis=1)))
            aligned = _alignment_keys(sentences, encoder.encode(align_texts)[rows])
            same = aligned == reference
            results.append(
                Measurement(
                    f"embed_backend[{label}]", len(texts) / turns.value,
                    len(texts) / turns.baseline, turns.speedup, "", "sentences/s",
                    f"onnxruntime vs torch SentenceTransformer.encode, {turns.describe()}; "
                    f"min cosine to torch "
                    f"vectors {agreement:.5f}; alignments on {len(sentences)} sentences "
                    f"identical to torch: {same} ({len(aligned ^ reference)} differ of "
                    f"{len(reference)}; torch at batch {BATCH_SIZE // 2} vs {BATCH_SIZE}: "
                    f"{control} differ)",
                )
            )  # fmt: skip
    return results


def run(quick: bool) -> list[Measurement]:
    texts = list(dict.fromkeys(s.english for s in english_articles(50 if quick else 1200)))
    log.info("embed: warming up the model files (%d unique sentences)", len(texts))
    _raw_encode(texts[:8])
    log.info("embed: pipeline stage (cold store) and raw SentenceTransformer.encode in turns")
    ours, raw, turns = alternate(
        lambda: _pipeline_embed(texts, EmbedConfig()), lambda: _raw_encode(texts)
    )
    agreement = float(np.min(np.sum(raw * ours, axis=1)))
    results = [
        Measurement(
            "embed_vs_raw_encode", len(texts) / turns.value, len(texts) / turns.baseline,
            turns.speedup, ">= 0.9", "sentences/s",
            f"{len(texts)} unique English sentences, all-MiniLM-L6-v2 torch CPU, batch "
            f"{BATCH_SIZE}; both sides include model load; {turns.describe()}; min cosine "
            f"pipeline vs raw {agreement:.6f}",
        )
    ]  # fmt: skip
    for batch_size in () if quick else (32, 128):  # --quick: no levers (10 minutes in all)
        config = dataclasses.replace(EmbedConfig(), batch_size=batch_size)
        log.info("embed lever batch_size=%d, in turns with the default", batch_size)
        _, _, lever = alternate(
            lambda config=config: _pipeline_embed(texts, config),
            lambda: _pipeline_embed(texts, EmbedConfig()),
        )
        results.append(
            Measurement(
                f"embed_lever[batch_size={batch_size}]", len(texts) / lever.value,
                len(texts) / lever.baseline, lever.speedup, "", "sentences/s",
                f"pipeline stage with embed.batch_size {batch_size} vs {BATCH_SIZE}, "
                f"{lever.describe()}",
            )
        )  # fmt: skip
    results += _backends(texts, raw, articles=60 if quick else 120)
    return results
