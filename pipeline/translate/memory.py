"""Translation memory: reference translations imported from TMX 1.4 or two-column TSV/CSV files.

A memory is matched exactly, on the matching key (pipeline.normalise.matching_key): the same
sentence written with a soft hyphen, a no-break space or a decomposed letter still matches.
TMX is read as a stream (lxml iterparse), so memory grows with the entries kept, not the file.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import langcodes
from lxml import etree

from pipeline.ingest.encoding import decode
from pipeline.normalise import matching_key

log = logging.getLogger(__name__)

# TMX 1.4 inline codes: native markup of the source document (`<b>`, a placeholder), not text.
# Their `<sub>` elements hold translatable text (a link title, an alt text) and keep it.
INLINE_CODES = frozenset({"bpt", "ept", "ph", "it", "ut"})
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Bad rows named one by one in the log before the rest are only counted.
LOGGED_ROWS = 5


class TranslationMemoryError(ValueError):
    """A translation-memory file that cannot be read; the message names the file."""


@dataclass
class MemoryFileReport:
    """What one file gave: `entries` read, and units or rows `skipped` by reason."""

    file: str
    entries: int = 0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.skipped.items()))
        return f"{self.file}: {self.entries} entries" + (f", skipped {reasons}" if reasons else "")


class TranslationMemory:
    """Exact-match lookup from a source sentence (by its matching key) to its English."""

    def __init__(
        self, entries: dict[str, str] | None = None, files: list[MemoryFileReport] | None = None
    ):
        """`entries` maps matching keys (pipeline.normalise.matching_key) to English; `files`
        reports what each file gave."""
        self.entries = dict(entries or {})
        self.files = list(files or [])

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, source: str) -> str | None:
        return self.entries.get(matching_key(source))

    @classmethod
    def from_files(cls, paths: list[Path], target: str = "en") -> TranslationMemory:
        """Load every file; later files win where two give the same source.

        Raises TranslationMemoryError, naming the file, for a file that cannot be read, is not
        well-formed TMX, or gives no entry at all.
        """
        entries: dict[str, str] = {}
        reports = []
        for path in paths:
            report = MemoryFileReport(str(path))
            for source, english in read_pairs(path, target, report):
                key, english = matching_key(source), matching_key(english)
                if not key:
                    report.skipped["empty source side"] += 1
                elif not english:
                    # An empty target is an untranslated unit, not a translation into nothing.
                    report.skipped[f"empty {target} side"] += 1
                else:
                    entries[key] = english
                    report.entries += 1
            if not report.entries:
                raise TranslationMemoryError(f"no entry could be read from {report.summary()}")
            log.info("translation memory %s", report.summary())
            reports.append(report)
        return cls(entries, reports)


def read_pairs(path: Path, target: str, report: MemoryFileReport) -> Iterator[tuple[str, str]]:
    """(source, target-language) text pairs of one file, as written; skips counted in `report`.

    Raises TranslationMemoryError for an unknown suffix, an unreadable file or broken TMX.
    """
    suffix = path.suffix.lower()
    if suffix == ".tmx":
        return _tmx_pairs(path, target, report)
    if suffix in (".tsv", ".tab", ".csv"):
        try:
            text = decode(path.read_bytes())
        except (OSError, ValueError) as error:
            raise TranslationMemoryError(
                f"{path}: cannot read translation memory: {error}"
            ) from None
        if suffix == ".csv":
            return _csv_pairs(path, text, report)
        return _tsv_pairs(path, text, report)
    raise TranslationMemoryError(
        f"{path}: unknown translation memory type (use .tmx, .tsv or .csv)"
    )


def _skip_row(path: Path, number: int, reason: str, report: MemoryFileReport) -> None:
    report.skipped["bad row"] += 1
    if report.skipped["bad row"] <= LOGGED_ROWS:
        log.warning("%s:%d: %s; row skipped", path, number, reason)


def _tsv_pairs(path: Path, text: str, report: MemoryFileReport) -> Iterator[tuple[str, str]]:
    # A tab-separated file has no quoting: a quote is text ("Нафтогаз" keeps its quotes) and an
    # unclosed one cannot swallow the rows after it, as CSV rules would.
    for number, line in enumerate(text.split("\n"), start=1):
        yield from _row_pairs(path, number, line.split("\t"), report)


def _csv_pairs(path: Path, text: str, report: MemoryFileReport) -> Iterator[tuple[str, str]]:
    # Each line is one row: a sentence holds no line break, so a quote left open costs its own
    # row only, not every row after it (which CSV's multi-line fields would take).
    for number, line in enumerate(text.split("\n"), start=1):
        try:
            columns = next(csv.reader([line]), [])
        except csv.Error as error:
            _skip_row(path, number, f"not valid CSV: {error}", report)
            continue
        yield from _row_pairs(path, number, columns, report)


def _row_pairs(
    path: Path, number: int, columns: list[str], report: MemoryFileReport
) -> Iterator[tuple[str, str]]:
    """The (source, English) pair of one row, if it has one; a bad row is skipped and logged."""
    while len(columns) > 2 and not columns[-1].strip():
        columns = columns[:-1]  # a spreadsheet's trailing separator
    if not "".join(columns).strip():
        return
    if len(columns) != 2:
        _skip_row(
            path, number, f"expected 2 columns (source, English), found {len(columns)}", report
        )
        return
    yield columns[0], columns[1]


def _tmx_pairs(path: Path, target: str, report: MemoryFileReport) -> Iterator[tuple[str, str]]:
    try:
        with path.open("rb") as file:
            # "{*}tu" matches with or without the TMX namespace (`xmlns="http://www.lisa.org/
            # tmx14"`). Entities the file declares are expanded (libxml2 refuses an entity
            # bomb); external ones are not, and nothing is fetched.
            units = etree.iterparse(
                file, events=("end",), tag="{*}tu", resolve_entities="internal", no_network=True,
                huge_tree=True,
            )  # fmt: skip
            for _, unit in units:
                yield from _unit_pairs(unit, target, report)
                # Free each unit once read, and the emptied ones before it: the parsed tree
                # never holds more than one unit.
                unit.clear(keep_tail=True)
                while unit.getprevious() is not None:
                    del unit.getparent()[0]
    except OSError as error:
        raise TranslationMemoryError(f"{path}: cannot read translation memory: {error}") from None
    except etree.XMLSyntaxError as error:
        raise TranslationMemoryError(f"{path}: not valid TMX: {error}") from None


def _unit_pairs(
    unit: etree._Element, target: str, report: MemoryFileReport
) -> list[tuple[str, str]]:
    """(source, target) pairs of one <tu>: each other-language variant with the target's."""
    segments: dict[str, str] = {}
    for variant in unit.iterfind("{*}tuv"):
        tag = variant.get(XML_LANG) or variant.get("lang") or ""
        try:
            # en_GB, EN-GB, eng and en-GB are all English.
            lang = langcodes.Language.get(tag.replace("_", "-")).language or ""
        except ValueError:
            lang = ""
        segment = variant.find("{*}seg")
        if not lang:
            report.skipped[f"language tag {tag!r} not understood"] += 1
        elif segment is not None:
            segments[lang] = segment_text(segment)
    english = segments.pop(target, None)
    if english is None:
        report.skipped[f"no {target} side"] += 1
        return []
    if not segments:
        report.skipped["no source side"] += 1
    return [(source, english) for source in segments.values()]


def segment_text(segment: etree._Element) -> str:
    """The text of a TMX <seg>: inline codes (bpt ept ph it ut) dropped, except the text of
    their <sub> elements; <hi> and anything else keep their text. Whitespace as written."""
    parts = [segment.text or ""]
    for child in segment:
        if isinstance(child.tag, str):  # comments and processing instructions hold no text
            if etree.QName(child).localname in INLINE_CODES:
                parts += [
                    f" {segment_text(sub)} "  # a sub's text is a phrase of its own
                    for sub in child
                    if isinstance(sub.tag, str) and etree.QName(sub).localname == "sub"
                ]
            else:
                parts.append(segment_text(child))
        parts.append(child.tail or "")
    return "".join(parts)
