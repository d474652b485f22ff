"""Build real, installable `.argosmodel` packages with random weights, for tests and benchmarks.

Released Argos packages cannot be downloaded on machines without a network, yet the translate
stage must run for real in tests. A package built here has every part a released one has: a
CTranslate2 Transformer model, a SentencePiece model and metadata.json, zipped. Its translations
are nonsense, but every step that touches them (install, tokenize, batch, decode, cache) is real.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm
from ctranslate2.specs import model_spec, transformer_spec

# Lines the SentencePiece model is trained on; both scripts, so Cyrillic input tokenizes
# into real pieces rather than only <unk>.
TRAINING_LINES = (
    "NATO allies condemn the deployment of troops.",
    "The ministry said the river water is safe to drink.",
    "Officials confirmed that twelve people were evacuated.",
    "Министерство заявило, что вода в реке безопасна.",
    "Союзники осуждают отправку войск в Россию.",
    "Власти подтвердили эвакуацию двенадцати человек.",
    "Міністерство заявило, що вода в річці безпечна.",
    "Союзники засуджують відправлення військ.",
    "Влада підтвердила евакуацію дванадцяти людей.",
)


@dataclass(frozen=True)
class ModelShape:
    """Transformer dimensions; `tiny()` for tests, `argos_base()` for benchmarks."""

    layers: int
    d_model: int
    heads: int
    ffn: int
    vocab_size: int

    @classmethod
    def tiny(cls) -> ModelShape:
        return cls(layers=1, d_model=16, heads=2, ffn=32, vocab_size=120)

    @classmethod
    def argos_base(cls) -> ModelShape:
        """The shape of Argos's released models: Transformer base with a 32k vocabulary."""
        return cls(layers=6, d_model=512, heads=8, ffn=2048, vocab_size=32000)


def train_sentencepiece(lines: list[str], vocab_size: int, prefix: Path) -> Path:
    """Train a SentencePiece model on `lines`; returns the .model path."""
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def _fill_weights(
    spec: transformer_spec.TransformerSpec, shape: ModelShape, vocab: int, seed: int
) -> None:
    """Give every required variable of `spec` random values of the right shape."""
    rng = np.random.default_rng(seed)
    d, ffn = shape.d_model, shape.ffn
    # Fused projections: self-attention packs Q, K, V in linear_0; cross-attention packs K, V in
    # linear_1 (CTranslate2's layout).
    rows_by_name = {
        "self_attention/linear_0": 3 * d,
        "attention/linear_1": 2 * d,
        "ffn/linear_0": ffn,
    }

    def weight_shape(name: str) -> tuple[int, ...]:
        if name.endswith(("gamma", "beta")):
            return (d,)
        if name.endswith("embeddings/weight") or "embeddings_0/weight" in name:
            return (vocab, d)
        if name.endswith("projection/weight"):
            return (vocab, d)
        if name.endswith("ffn/linear_1/weight"):
            return (d, ffn)
        for suffix, rows in rows_by_name.items():
            if name.endswith(f"{suffix}/weight"):
                return (rows, d)
        if name.endswith("/weight"):
            return (d, d)
        raise ValueError(f"no shape rule for variable {name}")

    def fill(layer, name: str, value) -> None:
        if value is not None:
            return
        attribute = name.rsplit("/", 1)[-1]
        size = weight_shape(name)
        if attribute == "gamma":
            values = np.ones(size, dtype=np.float32)
        elif attribute == "beta":
            values = np.zeros(size, dtype=np.float32)
        else:
            values = rng.normal(0.0, 0.1, size).astype(np.float32)
        setattr(layer, attribute, values)

    _visit_with_parent(spec, fill)


def _visit_with_parent(spec, fn, scope: str = "") -> None:
    # model_spec.visit_spec hands over names only; filling needs the owning layer too.
    for name, value in list(spec.__dict__.items()):
        if name.startswith("_"):
            continue
        path = f"{scope}/{name}" if scope else name
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, model_spec.LayerSpec):
                    _visit_with_parent(item, fn, f"{path}_{index}")
        elif isinstance(value, model_spec.LayerSpec):
            _visit_with_parent(value, fn, path)
        else:
            fn(spec, path, value)


def build_ct2_model(
    output_dir: Path, vocabulary: list[str], shape: ModelShape, quantization: str, seed: int
) -> None:
    """Write a CTranslate2 Transformer with random weights over `vocabulary` to `output_dir`."""
    spec = transformer_spec.TransformerSpec.from_config((shape.layers, shape.layers), shape.heads)
    _fill_weights(spec, shape, len(vocabulary), seed)
    spec.register_source_vocabulary(vocabulary)
    spec.register_target_vocabulary(vocabulary)
    spec.validate()
    spec.optimize(quantization=quantization)
    output_dir.mkdir(parents=True, exist_ok=True)
    spec.save(str(output_dir))


def build_argosmodel(
    path: Path,
    from_code: str,
    to_code: str = "en",
    shape: ModelShape | None = None,
    quantization: str = "int8",
    package_version: str = "0.0.1",
    seed: int = 0,
    extra_lines: tuple[str, ...] = (),
) -> Path:
    """Write a zipped `.argosmodel` for from_code→to_code at `path` and return it.

    The archive holds one top-level folder with metadata.json, model/ and sentencepiece.model,
    the layout argostranslate's `install_from_path` expects.
    """
    shape = shape or ModelShape.tiny()
    name = f"translate-{from_code}_{to_code}-synthetic"
    with tempfile.TemporaryDirectory() as workdir:
        root = Path(workdir) / name
        root.mkdir()
        lines = list(TRAINING_LINES + extra_lines)
        if shape.vocab_size > 1000:
            # A large vocabulary needs enough distinct text for SentencePiece to reach it.
            lines += _synthetic_lines(shape.vocab_size, seed)
        sp_model = train_sentencepiece(lines, shape.vocab_size, root / "sentencepiece")
        (root / "sentencepiece.vocab").unlink()
        processor = spm.SentencePieceProcessor(model_file=str(sp_model))
        vocabulary = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
        # SentencePiece's <unk>, <s> and </s> are the special tokens CTranslate2 expects.
        build_ct2_model(root / "model", vocabulary, shape, quantization, seed)
        metadata = {
            "package_version": package_version,
            "argos_version": "1.11.0",
            "from_code": from_code,
            "from_name": from_code,
            "to_code": to_code,
            "to_name": to_code,
            "type": "translate",
            "links": [],
        }
        (root / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(root.rglob("*")):
                archive.write(file, file.relative_to(root.parent).as_posix())
        path.write_bytes(buffer.getvalue())
    return path


def _synthetic_lines(vocab_size: int, seed: int) -> list[str]:
    """Random pseudo-words, enough for a SentencePiece vocabulary of `vocab_size`."""
    rng = np.random.default_rng(seed)
    letters = list("abcdefghijklmnopqrstuvwxyzабвгдеёжзийклмнопрстуфхцчшщыьэюяіїєґ")
    words = ["".join(rng.choice(letters, size=rng.integers(3, 10))) for _ in range(vocab_size * 3)]
    return [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
