"""`parallax collect` at scale: 1,000 pages from a local server, and extraction time per page.

The synthetic corpus's articles (benchmarks/synthetic_corpus.py) are served as news pages with
the furniture real ones carry (cookie banner, menu, related list, footer) by a threaded HTTP
server on 127.0.0.1, listed in one RSS feed. Measured side by side in one run:
- collect's pages per second (robots.txt, fetch, main text, fetch state, inbox record) against
  plain GETs of the same pages over one connection pool, with the per-host delay set to 0: the
  configured delay bounds a real collect at 1/per_host_delay_seconds pages per second and host;
- the same pages from four hosts (four local servers, a source each) with a per-host delay of
  HOSTS_DELAY seconds, against the bound that delay sets (4 / HOSTS_DELAY pages per second):
  hosts are fetched at once, each host one page at a time;
- the reader's milliseconds per page (pipeline.ingest.html.read: hidden elements removed,
  trafilatura favouring precision) against trafilatura.extract with its defaults, same pages.
"""

from __future__ import annotations

import contextlib
import html as html_escape
import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import trafilatura

from benchmarks.common import Measurement, alternate, log
from benchmarks.synthetic_corpus import write_corpus
from pipeline.collect import Source, collect
from pipeline.config import load_config
from pipeline.ingest import html
from pipeline.store import Store

PAGES = 1000
QUICK_PAGES = 300
HOSTS = 4
HOSTS_DELAY = 0.05  # seconds between two requests to one host


def news_page(title: str, text: str) -> bytes:
    paragraphs = "".join(f"<p>{html_escape.escape(line)}</p>" for line in text.splitlines())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        "<div class='cookies'>We use cookies. Accept all</div>"
        "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>{title}</h1>{paragraphs}</article>"
        "<aside><ul><li><a href='/x'>Most read: ten tips</a></li></ul></aside>"
        "<footer>Privacy Policy | Contact Us</footer></body></html>"
    ).encode()


def site_pages(work: Path, count: int) -> dict[str, bytes]:
    paths = write_corpus(work / "articles", count)
    return {
        f"/a/{number}.html": news_page(f"Article {number}", path.read_text(encoding="utf-8"))
        for number, path in enumerate(sorted(paths))
    }


@contextlib.contextmanager
def serving(pages: dict[str, bytes]):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as news sites serve
        # Headers and body go out as two writes: with Nagle's algorithm the body waits for
        # the client's delayed ACK of the headers, 40 ms a page on Linux.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = self.server.files.get(self.path)  # type: ignore[attr-defined]
            status = 200 if body is not None else 404
            body = body if body is not None else b"not found"
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    items = "".join(f"<item><title>{p}</title><link>{base}{p}</link></item>" for p in pages)
    feed = f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>"
    server.files = {  # type: ignore[attr-defined]
        **pages,
        "/feed.rss": feed.encode(),
        "/robots.txt": b"User-agent: *\nAllow: /\n",
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def collect_from_hosts(pages: dict[str, bytes], work: Path) -> float:
    """Seconds to collect `pages` split over HOSTS servers, HOSTS_DELAY apart per host."""
    paths = list(pages)
    shares = [{p: pages[p] for p in paths[n::HOSTS]} for n in range(HOSTS)]
    config = load_config(
        overrides={
            "collect": {"inbox": str(work / "inbox"), "per_host_delay_seconds": HOSTS_DELAY},
            "paths": {"cache_dir": str(work / "cache")},
        }
    ).collect
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(serving(share)) for share in shares]
        sources = [Source(f"host{n}", "", (f"{base}/feed.rss",)) for n, base in enumerate(bases)]
        store = stack.enter_context(contextlib.closing(Store(work / "cache")))
        started = time.perf_counter()
        reports = collect(sources, config, store)
        seconds = time.perf_counter() - started
    if sum(report.new for report in reports) != len(pages):
        raise SystemExit("collect bench: " + "; ".join(report.line() for report in reports))
    return seconds


def run(quick: bool, workdir: Path) -> list[Measurement]:
    count = QUICK_PAGES if quick else PAGES
    work = workdir / "collect"
    pages = site_pages(work, count)
    rounds = itertools.count()
    with serving(pages) as base:

        def plain_gets() -> None:
            with httpx.Client() as client:
                for path in pages:
                    client.get(base + path).raise_for_status()

        def collect_all() -> None:
            # Each round collects into an inbox and cache of its own: every page is new.
            folder = work / f"round{next(rounds)}"
            config = load_config(
                overrides={
                    "collect": {"inbox": str(folder / "inbox"), "per_host_delay_seconds": 0},
                    "paths": {"cache_dir": str(folder / "cache")},
                }
            ).collect
            with contextlib.closing(Store(folder / "cache")) as store:
                (report,) = collect([Source("bench", "", (f"{base}/feed.rss",))], config, store)
            if report.new != count:
                raise SystemExit(f"collect bench: {report.new} of {count} pages: {report.line()}")

        _, _, fetching = alternate(collect_all, plain_gets)
    hosts_seconds = collect_from_hosts(pages, work / "hosts")
    texts = [body.decode() for body in pages.values()]
    _, _, extracting = alternate(
        lambda: [html.read(str(number), text, "bench") for number, text in enumerate(texts)],
        lambda: [trafilatura.extract(text) for text in texts],
    )
    ours, theirs = extracting.value / count, extracting.baseline / count
    log.info("collect: %d pages in %.1f s, GETs %.1f s", count, fetching.value, fetching.baseline)
    collect_rate, plain_rate = count / fetching.value, count / fetching.baseline
    hosts_rate, bound = count / hosts_seconds, HOSTS / HOSTS_DELAY
    return [
        Measurement(
            "collect_pages_per_s", collect_rate, plain_rate, fetching.speedup, "",
            "pages/s",
            f"{count} synthetic news pages from a local server, per_host_delay_seconds 0 (the "
            "default 1 s bounds a real collect at 1 page/s per host); baseline: plain GETs of the "
            f"same pages over one connection pool; {fetching.describe()}",
        ),
        Measurement(
            "collect_hosts_pages_per_s", hosts_rate, bound, hosts_rate / bound, "", "pages/s",
            f"the same pages from {HOSTS} local hosts, a source each, per_host_delay_seconds "
            f"{HOSTS_DELAY}; baseline: the bound that delay sets, {HOSTS} / {HOSTS_DELAY} pages/s",
        ),
        Measurement(
            "extract_ms_per_page", 1000 * ours, 1000 * theirs, 1 / extracting.speedup, "",
            "ms/page",
            "pipeline.ingest.html.read (hidden elements removed, trafilatura favouring "
            "precision, metadata) against trafilatura.extract with its defaults, same pages; "
            f"{extracting.describe()}: trafilatura's time over ours",
        ),
    ]  # fmt: skip
