"""Small helpers shared by several test modules."""

from __future__ import annotations

from pathlib import Path


def write(root: Path, relative: str, content: str | bytes) -> Path:
    """Write `content` (text as UTF-8, or bytes) at root/relative, creating folders."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def break_segmentation(monkeypatch, marker: str, error: Exception) -> None:
    """Make sentence splitting raise `error` for any text containing `marker`."""
    from pipeline import segment

    real_split = segment.split_sentences

    def split_or_break(text: str) -> list[str]:
        if marker in text:
            raise error
        return real_split(text)

    monkeypatch.setattr(segment, "split_sentences", split_or_break)
