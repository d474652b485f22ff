"""Main-text extraction on real web pages: how many pages come out fully right.

    python -m benchmarks.extraction [--failures]

../shared/corpus/web-pages holds 150 real pages (gzip), each with snippets that belong to the
main text and snippets of page furniture (its README). A page is fully right when every
must-keep snippet is in the extracted text and no must-drop snippet is. Scored side by side,
on the same decoded pages:
- visible text: every block a reader can see (Parallax's reader before trafilatura);
- trafilatura with its defaults;
- Parallax: pipeline.ingest.html.read (hidden elements removed, trafilatura favouring
  precision without comments, visible text where it finds nothing), and that text after the
  noise-line rules (pipeline/clean.py), which is what sentence splitting gets.
Seconds per page are given for Parallax's reader beside trafilatura's defaults.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trafilatura

from pipeline.clean import clean_text
from pipeline.ingest import html
from pipeline.ingest.encoding import decode

WEB_PAGES = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "web-pages"


@dataclass(frozen=True)
class Page:
    name: str
    url: str
    html: str
    keep: tuple[str, ...]  # snippets that must be in the text
    drop: tuple[str, ...]  # snippets that must not


@dataclass(frozen=True)
class Result:
    extractor: str
    right: list[str]  # page names fully right
    wrong: dict[str, tuple[list[str], list[str]]]  # page -> (snippets missed, snippets kept)
    seconds: float

    @property
    def per_page_ms(self) -> float:
        return 1000 * self.seconds / max(len(self.right) + len(self.wrong), 1)


def load_pages(folder: Path = WEB_PAGES) -> list[Page]:
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    return [
        Page(
            name,
            entry["url"],
            decode(gzip.decompress((folder / "pages" / f"{name}.gz").read_bytes())),
            tuple(entry["with"]),
            tuple(entry["without"]),
        )
        for name, entry in sorted(expected.items())
    ]


def _visible(page: Page) -> str:
    root = html.parse(page.html)
    return html.visible_text(root) if root is not None else ""


def _trafilatura(page: Page) -> str:
    return trafilatura.extract(page.html, url=page.url) or ""


def _parallax(page: Page) -> str:
    return html.read(page.name, page.html, "web")[0].text


def _parallax_cleaned(page: Page) -> str:
    return clean_text(_parallax(page)).text


EXTRACTORS: dict[str, Callable[[Page], str]] = {
    "visible text (before)": _visible,
    "trafilatura 2.3.1, defaults": _trafilatura,
    "Parallax reader": _parallax,
    "Parallax reader, then noise lines dropped": _parallax_cleaned,
}


def score(name: str, extract: Callable[[Page], str], pages: list[Page]) -> Result:
    right, wrong = [], {}
    started = time.perf_counter()
    texts = [(page, extract(page)) for page in pages]
    seconds = time.perf_counter() - started
    for page, text in texts:
        missed = [s for s in page.keep if s not in text]
        kept = [s for s in page.drop if s in text]
        if missed or kept:
            wrong[page.name] = (missed, kept)
        else:
            right.append(page.name)
    return Result(name, right, wrong, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", action="store_true", help="list each wrong page of ours")
    args = parser.parse_args()
    if not WEB_PAGES.is_dir():
        raise SystemExit(f"{WEB_PAGES} is absent: nothing to measure")
    pages = load_pages()
    print("| extractor | pages fully right | ms per page |")
    print("|---|---|---|")
    results = [score(name, extract, pages) for name, extract in EXTRACTORS.items()]
    for result in results:
        print(
            f"| {result.extractor} | {len(result.right)}/{len(pages)} | {result.per_page_ms:.0f} |"
        )
    if args.failures:
        for page, (missed, kept) in sorted(results[2].wrong.items()):
            print(f"{page}: missed {[s[:40] for s in missed]} kept {[s[:40] for s in kept]}")


if __name__ == "__main__":
    main()
