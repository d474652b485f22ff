"""The ratio margin's background: generic news sentences (pipeline/data/background_sentences.txt)
that complete the neighbourhood of an article with fewer than k sentences (pipeline/align.py).

A module of its own, not part of align.py: the embedding backends' check (pipeline/
embed_backend.py) reads the same sentences in the embedding server, which should not import
FAISS to get them.
"""

from __future__ import annotations

from pathlib import Path

BACKGROUND_FILE = Path(__file__).parent / "data" / "background_sentences.txt"


def background_sentences() -> list[str]:
    """The generic news sentences of the margin's background (comment lines left out)."""
    lines = BACKGROUND_FILE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]
