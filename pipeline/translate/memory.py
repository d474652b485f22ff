"""Translation memory: reference translations imported from TMX 1.4 or two-column TSV/CSV files."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from pipeline.ingest.encoding import decode

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class TranslationMemoryError(ValueError):
    """A translation-memory file that cannot be read; the message names the file."""


def normalise(text: str) -> str:
    """The matching key: whitespace collapsed to single spaces, ends stripped."""
    return " ".join(text.split())


class TranslationMemory:
    """Exact-match lookup from a source sentence (whitespace-normalised) to its English."""

    def __init__(self, entries: dict[str, str] | None = None):
        self.entries = dict(entries or {})

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, source: str) -> str | None:
        return self.entries.get(normalise(source))

    @classmethod
    def from_files(cls, paths: list[Path], target: str = "en") -> TranslationMemory:
        """Load every file; later files win where two give the same source."""
        entries: dict[str, str] = {}
        for path in paths:
            entries.update(read_file(path, target))
        return cls(entries)


def read_file(path: Path, target: str = "en") -> dict[str, str]:
    try:
        text = decode(path.read_bytes())
    except (OSError, ValueError) as error:
        raise TranslationMemoryError(f"{path}: cannot read translation memory: {error}") from None
    suffix = path.suffix.lower()
    if suffix == ".tmx":
        pairs = _tmx_pairs(path, text, target)
    elif suffix in (".tsv", ".tab"):
        pairs = _delimited_pairs(path, text, "\t")
    elif suffix == ".csv":
        pairs = _delimited_pairs(path, text, ",")
    else:
        raise TranslationMemoryError(
            f"{path}: unknown translation memory type (use .tmx, .tsv or .csv)"
        )
    return {normalise(source): english.strip() for source, english in pairs if normalise(source)}


def _delimited_pairs(path: Path, text: str, delimiter: str) -> list[tuple[str, str]]:
    pairs = []
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise TranslationMemoryError(
                f"{path}:{number}: expected two columns (source, English), found {len(row)}"
            )
        pairs.append((row[0], row[1]))
    return pairs


def _tmx_pairs(path: Path, text: str, target: str) -> list[tuple[str, str]]:
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise TranslationMemoryError(f"{path}: not valid TMX: {error}") from None
    pairs = []
    for unit in root.iter("tu"):
        segments = {}
        for variant in unit.iter("tuv"):
            lang = (variant.get(XML_LANG) or variant.get("lang") or "").lower()
            segment = variant.find("seg")
            if lang and segment is not None:
                # <seg> may hold inline markup (<bpt>, <ph>...); its text is what was translated.
                segments[lang.split("-")[0]] = "".join(segment.itertext())
        english = segments.pop(target, None)
        if english is not None:
            pairs += [(source, english) for source in segments.values()]
    return pairs
