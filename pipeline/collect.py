"""Collect articles from the web into the inbox, each URL fetched once.

For each source in config/sources.yaml, new article URLs come from its RSS and Atom feeds
(feedparser), its sitemaps and news sitemaps (lxml; a sitemap index is followed) and its files
of page URLs. Each new page is fetched (httpx, one connection pool for the whole collect), its
main text, title and date read as any local .html page is (pipeline.ingest.html: trafilatura),
and one record is appended to <inbox>/<source>.jsonl: id, source, url, urls, title, published,
text, lang, fetched_at. `parallax run` reads the inbox like any other folder.

Polite and bounded: robots.txt is honoured for the configured user agent (urllib.robotparser);
pages are fetched by up to `max_concurrent_requests` threads, but one request at a time per host,
each at least `per_host_delay_seconds` after the last one began there; connect and read
timeouts; pages are read as a stream and dropped past `max_page_bytes`; at most
`max_redirects` redirects (a loop fails at once); a page must be HTML; timeouts, connection
errors and 5xx answers are retried with exponential backoff; feeds and sitemaps are re-polled
with If-None-Match and If-Modified-Since, so an unchanged one costs a 304.

Fetch state is kept in the cache (pipeline/store.py, tables fetch_state and pages): a rerun fetches
only URLs it has never fetched (or that failed), and the raw page is kept compressed, so a
better extractor can read it again without refetching. A page whose main text the same source
already gave under another URL (an AMP or print copy, a syndicated repeat) is one article: the
URL is added to that record's `urls`. URLs are normalised first (courlan: scheme and host lower
case, default port, tracking parameters such as utm_* dropped, query sorted; the fragment
dropped), so one page listed twice with different tracking tails is fetched once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import queue
import re
import tempfile
import threading
import time
import urllib.robotparser
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import courlan
import feedparser
import httpx
import yaml
from lxml import etree
from tqdm import tqdm

from pipeline.config import CollectConfig, ConfigError, typed_record
from pipeline.ingest import html
from pipeline.ingest.encoding import decode
from pipeline.ingest.errors import IngestError
from pipeline.records import Article, text_hash
from pipeline.store import Fetch, Store

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
# A sitemap index may point at sitemaps that are indexes again; deeper nesting is a loop.
MAX_SITEMAP_DEPTH = 3
# A URL whose last fetch ended with this status prefix (a timeout, a 5xx after the retries)
# is fetched again by the next collect; any other status (done, or refused for good: a 404,
# robots.txt, not HTML, too large) is not.
RETRY = "retry: "
FAILED = "failed: "


@dataclass(frozen=True)
class Source:
    """One outlet: its name (the `source` of its articles), a language hint, and where to
    find its article URLs."""

    name: str
    lang: str = ""
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    url_files: tuple[Path, ...] = ()


@dataclass
class SourceReport:
    """What collecting one source did: new articles, URLs already done, copies of an article
    under another URL, and the URLs (pages, feeds, sitemaps) that failed, with the reason."""

    name: str
    new: int = 0
    unchanged: int = 0
    duplicates: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    refused_before: int = 0  # failed for good on an earlier collect (a 404, robots.txt): skipped

    def line(self) -> str:
        reasons = Counter(self.failed.values())
        why = "; ".join(f"{reason}: {n}" for reason, n in reasons.most_common())
        earlier = f", {self.refused_before} refused earlier" if self.refused_before else ""
        return (
            f"{self.name}: {self.new} new, {self.unchanged} unchanged, "
            f"{self.duplicates} duplicate, {len(self.failed)} failed"
            + (f" ({why})" if why else "")
            + earlier
        )


class FetchError(Exception):
    """A URL could not be fetched; the message is the reason, short, for the summary.
    `transient`: worth trying again later (a timeout, a connection error, a 5xx answer)."""

    def __init__(self, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    status: int
    content_type: str
    etag: str
    last_modified: str
    body: bytes

    @functools.cached_property
    def content_hash(self) -> str:
        """sha256 of the body, computed once: the page's key in the cache and fetch state."""
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class Found:
    """An article URL, with what the feed or sitemap said of it (used where the page is
    silent)."""

    url: str
    title: str = ""
    published: str = ""


def load_sources(path: Path) -> list[Source]:
    """The sources listed in `path` (YAML: `sources:` a list of mappings with name, lang,
    feeds, sitemaps, url_files). Relative url_files are taken from the file's folder.

    Raises ConfigError naming the file and the bad entry or key.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"sources file {path} cannot be read: {error.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"sources file {path} is not valid YAML: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise ConfigError(f"{path}: expected `sources:` followed by a list of sources")
    sources = []
    for number, entry in enumerate(data["sources"]):
        try:
            source = typed_record(Source, entry, prefix=f"sources[{number}].")
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
        except TypeError:  # a required key (name) is missing
            raise ConfigError(f"{path}: sources[{number}].name: required") from None
        if not source.name.strip() or source.name[0] == "." or set(source.name) & set("/\\"):
            raise ConfigError(
                f"{path}: sources[{number}].name: expected a name without '/' or '\\' that "
                "does not start with '.' (it names the source's file in the inbox)"
            )
        if source.lang and not re.fullmatch(r"[a-z]{2,3}", source.lang):
            raise ConfigError(
                f"{path}: sources[{number}].lang: expected a language code (en, ru, uk, ...), "
                f"got {source.lang!r}"
            )
        files = tuple(p if p.is_absolute() else path.parent / p for p in source.url_files)
        sources.append(Source(source.name, source.lang, source.feeds, source.sitemaps, files))
    names = Counter(s.name for s in sources)
    if twice := [name for name, n in names.items() if n > 1]:
        raise ConfigError(f"{path}: source {twice[0]!r} is listed twice")
    return sources


class Fetcher:
    """GET with robots.txt, per-host delay, timeouts, a size cap, redirects, retries and
    conditional requests (see the module docstring). Safe to share between threads: requests to
    one host are serialised. `sleep` and `clock` are injectable for tests of the delay."""

    def __init__(
        self,
        config: CollectConfig,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.client = httpx.Client(
            headers={"User-Agent": config.user_agent},
            timeout=httpx.Timeout(
                config.read_timeout_seconds, connect=config.connect_timeout_seconds
            ),
            follow_redirects=True,
            max_redirects=config.max_redirects,
        )
        self._sleep, self._clock = sleep, clock
        self._last_request: dict[str, float] = {}
        # A lock per host, held through each request there (threads fetch from several hosts
        # at once, never two pages from one), and one per host's robots.txt (read once).
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        # Per host: its robots.txt rules, and why it could not be read ("" when it could).
        self._robots: dict[str, tuple[urllib.robotparser.RobotFileParser, str]] = {}

    def close(self) -> None:
        self.client.close()

    def get(
        self, url: str, etag: str = "", last_modified: str = "", html_only: bool = False
    ) -> Response:
        """The answer to GET `url` (status 200, or 304 to a conditional request).

        Raises FetchError with the reason: disallowed by robots.txt, HTTP 4xx, HTTP 5xx or a
        timeout after the retries, too many redirects, larger than the cap, not HTML.
        """
        parts = urlsplit(url)  # a malformed URL ("http://[::1") raises ValueError here
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("not an http(s) URL")
        self.check_robots(url)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for attempt in range(self.config.retries + 1):
            if attempt:
                self._sleep(self.config.backoff_seconds * 2 ** (attempt - 1))
            try:
                response = self._get_once(url, headers)
            except httpx.TooManyRedirects:
                raise FetchError("too many redirects") from None
            except httpx.TimeoutException:
                reason = "timed out"
                continue
            except httpx.TransportError as error:
                reason = f"connection failed ({type(error).__name__})"
                continue
            if response.status >= 500:
                reason = f"HTTP {response.status}"
                continue
            if response.status >= 400:
                raise FetchError(f"HTTP {response.status}")
            if html_only and response.status == 200 and not _is_html(response.content_type):
                raise FetchError(f"not HTML ({response.content_type or 'no content type'})")
            return response
        raise FetchError(f"{reason} after {self.config.retries + 1} tries", transient=True)

    def _get_once(self, url: str, headers: dict[str, str]) -> Response:
        host = urlsplit(url).netloc
        with self._lock_for(host):
            self._wait_for(host)
            return self._request(url, headers)

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())

    def _request(self, url: str, headers: dict[str, str]) -> Response:
        cap = self.config.max_page_bytes
        with self.client.stream("GET", url, headers=headers) as answer:
            declared = answer.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise FetchError(f"larger than {cap} bytes")
            body = bytearray()
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > cap:
                    raise FetchError(f"larger than {cap} bytes")
            return Response(
                str(answer.url),
                answer.status_code,
                answer.headers.get("Content-Type", "").split(";")[0].strip().lower(),
                answer.headers.get("ETag", ""),
                answer.headers.get("Last-Modified", ""),
                bytes(body),
            )

    def _wait_for(self, host: str) -> None:
        last = self._last_request.get(host)
        if last is not None:
            wait = self.config.per_host_delay_seconds - (self._clock() - last)
            if wait > 0:
                self._sleep(wait)
        self._last_request[host] = self._clock()

    def check_robots(self, url: str) -> None:
        """Raise FetchError unless robots.txt lets our user agent fetch `url` (RFC 9309): no
        robots.txt (a 4xx) allows everything; one that cannot be read (a 5xx, a timeout, no
        connection) forbids everything on that host for this collect, and the URL is tried
        again next time."""
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        with self._lock_for("robots " + root):  # read once, by whichever thread asks first
            if root not in self._robots:
                self._robots[root] = self._read_robots(root)
        robots, unreadable = self._robots[root]
        if unreadable:
            raise FetchError(f"robots.txt unreadable ({unreadable})", transient=True)
        if not robots.can_fetch(self.config.user_agent, url):
            raise FetchError("disallowed by robots.txt")

    def _read_robots(self, root: str) -> tuple[urllib.robotparser.RobotFileParser, str]:
        """The rules of `root`/robots.txt, and why it could not be read ("" when it could)."""
        robots = urllib.robotparser.RobotFileParser(f"{root}/robots.txt")
        try:
            answer = self._get_once(f"{root}/robots.txt", {})
        except (FetchError, httpx.HTTPError) as error:
            return robots, str(error) or type(error).__name__
        if answer.status >= 500:
            return robots, f"HTTP {answer.status}"
        if answer.status >= 400:
            robots.allow_all = True
        else:
            robots.parse(answer.body.decode("utf-8", "replace").splitlines())
        return robots, ""


def _is_html(content_type: str) -> bool:
    return not content_type or content_type in HTML_TYPES


def discover(source: Source, fetcher: Fetcher, store: Store, report: SourceReport) -> list[Found]:
    """The article URLs a source lists now, normalised (`normalise_url`), in the order found,
    each once. A feed or sitemap that cannot be read is reported and skipped; one unchanged
    since the last poll (304) lists nothing new."""
    found: dict[str, Found] = {}
    listed: list[Found] = []
    for feed in source.feeds:
        listed += _poll(source.name, feed, fetcher, store, report, _feed_items)
    for sitemap in source.sitemaps:
        listed += _sitemap_items(source.name, sitemap, fetcher, store, report, depth=0)
    for path in source.url_files:
        try:
            lines = path.read_bytes().splitlines()
        except OSError as error:
            report.failed[str(path)] = f"URL file unreadable ({error.strerror})"
            continue
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                report.failed[f"{path}:{number}"] = "line is not UTF-8"
                continue
            if line and not line.startswith("#"):
                listed.append(Found(line))
    for item in listed:
        url = normalise_url(item.url)
        found.setdefault(url, Found(url, item.title, item.published))
    return list(found.values())


def _poll(
    source: str,
    url: str,
    fetcher: Fetcher,
    store: Store,
    report: SourceReport,
    parse: Callable[[Response], list[Found]],
) -> list[Found]:
    """Fetch a feed or sitemap conditionally and parse it; [] when it failed. Unchanged since
    the last poll (304), the copy kept then is parsed again: its items that failed for a
    passing reason are tried again, the others are skipped as done."""
    before = store.get_fetch(source, url)
    kept = store.get_page(before.content_hash) if before and before.content_hash else None
    try:
        etag, modified = (before.etag, before.last_modified) if before and kept else ("", "")
        answer = fetcher.get(url, etag, modified)
        if answer.status == 304:
            answer = Response(answer.url, 200, "", etag, modified, kept or b"")
        else:
            store.put_page(answer.content_hash, answer.body)
        items = parse(answer)
    except (FetchError, ValueError) as error:  # not a feed or sitemap; a malformed URL
        report.failed[url] = str(error)
        return []
    store.put_fetch(_fetch_record(source, url, url, "ok", answer, before))
    return items


def _feed_items(answer: Response) -> list[Found]:
    parsed = feedparser.parse(answer.body, response_headers={"content-location": answer.url})
    if parsed.bozo and not parsed.entries:
        raise ValueError(f"not a feed ({type(parsed.bozo_exception).__name__})")
    items = []
    for entry in parsed.entries:
        link = entry.get("link") or ""
        if link:
            published = entry.get("published") or entry.get("updated") or ""
            items.append(Found(urljoin(answer.url, link), entry.get("title", ""), published))
    return items


def _sitemap_items(
    source: str, url: str, fetcher: Fetcher, store: Store, report: SourceReport, depth: int
) -> list[Found]:
    children: list[str] = []

    def parse(answer: Response) -> list[Found]:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        try:
            root = etree.fromstring(answer.body, parser)
        except etree.XMLSyntaxError as error:
            raise ValueError(f"not a sitemap ({error.msg})") from None
        if etree.QName(root).localname == "sitemapindex":
            children.extend(loc.strip() for loc in root.xpath("//*[local-name()='loc']/text()"))
            return []
        items = []
        for entry in root.xpath("//*[local-name()='url']"):
            loc = "".join(entry.xpath("*[local-name()='loc']/text()")).strip()
            title = "".join(entry.xpath(".//*[local-name()='title']/text()")).strip()
            published = "".join(
                entry.xpath(".//*[local-name()='publication_date']/text()")
                or entry.xpath("*[local-name()='lastmod']/text()")
            ).strip()
            if loc:
                items.append(Found(loc, title, published))
        return items

    items = _poll(source, url, fetcher, store, report, parse)
    for child in children:
        if depth + 1 >= MAX_SITEMAP_DEPTH:
            report.failed[child] = "sitemap index nested too deep"
            continue
        items += _sitemap_items(source, child, fetcher, store, report, depth + 1)
    return items


def collect(
    sources: list[Source], config: CollectConfig, store: Store, fetcher: Fetcher | None = None
) -> list[SourceReport]:
    """Collect every source into `config.inbox`; one report per source, in the order given.

    Every source's feeds, sitemaps and URL files are read first; then the new pages are fetched
    (`_fetch_by_host`) and recorded as they come, each host's in the order listed. A source that
    fails (feeds down, every page refused, its inbox not writable) is reported, never raised:
    the others go on.
    """
    own = fetcher is None
    fetcher = fetcher or Fetcher(config)
    reports = [SourceReport(source.name) for source in sources]
    try:
        pages: list[tuple[_Inbox, SourceReport, Found]] = []
        for source, report in zip(sources, reports, strict=True):
            inbox = _Inbox(config.inbox / f"{source.name}.jsonl", source)
            for item in discover(source, fetcher, store, report):
                before = store.get_fetch(source.name, item.url)
                if before is not None and before.status.startswith(FAILED):
                    report.refused_before += 1
                elif before is not None and not before.status.startswith(RETRY):
                    report.unchanged += 1
                else:
                    pages.append((inbox, report, item))
        # Closed on any error here, so that the fetching threads stop too.
        with contextlib.closing(
            _fetch_by_host(fetcher, pages, config.max_concurrent_requests)
        ) as fetched:
            bar = tqdm(fetched, total=len(pages), desc="collect", unit="page", disable=None)
            for (inbox, report, item), outcome in bar:
                if str(config.inbox) in report.failed:
                    continue  # this source's inbox cannot be written: it stopped
                try:
                    _record(inbox, item, outcome, store, report)
                except OSError as error:
                    report.failed[str(config.inbox)] = f"inbox not writable ({error.strerror})"
    finally:
        if own:
            fetcher.close()
    for report in reports:
        log.debug("%s", report.line())  # the CLI prints it, the flow logs it
    return reports


def collect_sources(config: CollectConfig, cache_dir: Path) -> list[SourceReport]:
    """Collect every source of `config.sources` into `config.inbox`, the fetch state kept in
    the cache at `cache_dir`: what `parallax collect` and the scheduled flow's collect task
    do. Raises ConfigError for a bad sources file, before any fetch."""
    sources = load_sources(config.sources)
    with contextlib.closing(Store(cache_dir)) as store:
        return collect(sources, config, store)


def normalise_url(url: str) -> str:
    """`url` in one spelling (courlan.normalize_url: scheme and host lower case, no default
    port, tracking parameters dropped, query sorted), without its fragment, which no server
    sees. Anything but an http(s) URL is returned as it is, to fail when fetched."""
    try:
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            return url
        return courlan.normalize_url(urldefrag(url).url)
    except ValueError:  # malformed ("http://[::1"): fetching it says so
        return url


class _Inbox:
    """A source's inbox file and the records in it, by main text (see `_text_key`)."""

    def __init__(self, path: Path, source: Source) -> None:
        self.path, self.source = path, source
        self.records = _read_records(path)
        self.by_text = {_text_key(r["text"]): r for r in self.records}


@dataclass(frozen=True)
class _Fetched:
    """A page fetched and read, or why not."""

    answer: Response | None = None
    article: Article | None = None
    error: FetchError | IngestError | ValueError | None = None


def _fetch_by_host(
    fetcher: Fetcher, pages: list[tuple[_Inbox, SourceReport, Found]], workers: int
) -> Iterator[tuple[tuple[_Inbox, SourceReport, Found], _Fetched]]:
    """Fetch and read `pages`, yielding each with what came of it: a thread per host, up to
    `workers` hosts at once, each fetching its host's pages in the order given (the Fetcher
    keeps them `per_host_delay_seconds` apart). Handing a host to one thread, rather than pages
    to any, keeps the other threads busy on other hosts while one waits out its delay."""
    by_host: dict[str, list[tuple[_Inbox, SourceReport, Found]]] = {}
    for page in pages:
        try:
            host = urlsplit(page[2].url).netloc
        except ValueError:  # malformed: the fetch says so
            host = ""
        by_host.setdefault(host, []).append(page)
    done: queue.Queue[tuple[tuple[_Inbox, SourceReport, Found], _Fetched | Exception]]
    done = queue.Queue()
    stop = threading.Event()  # the caller stopped reading (an error, Ctrl-C): stop fetching

    def fetch_host(host_pages: list[tuple[_Inbox, SourceReport, Found]]) -> None:
        for page in host_pages:
            if stop.is_set():
                return
            try:
                outcome: _Fetched | Exception = _fetch_page(fetcher, page[0].source, page[2])
            except Exception as error:  # a bug, not a failed fetch: raised in the caller
                outcome = error
            done.put((page, outcome))

    with ThreadPoolExecutor(workers) as pool:
        try:
            for host_pages in by_host.values():
                pool.submit(fetch_host, host_pages)
            for _ in pages:
                page, outcome = done.get()
                if isinstance(outcome, Exception):
                    raise outcome
                yield page, outcome
        finally:
            stop.set()


def _fetch_page(fetcher: Fetcher, source: Source, item: Found) -> _Fetched:
    """Fetch and read one page (in a worker thread: no store or inbox access here)."""
    try:
        answer = fetcher.get(item.url, html_only=True)
        return _Fetched(answer, html.read(item.url, decode(answer.body), source.name)[0])
    except (FetchError, IngestError, ValueError) as error:  # ValueError: a malformed URL
        return _Fetched(error=error)


def _record(
    inbox: _Inbox, item: Found, fetched: _Fetched, store: Store, report: SourceReport
) -> None:
    """Keep what fetching `item` gave: a new inbox record, a URL added to the record of the
    same text, or the reason it failed; its fetch state either way."""
    name = inbox.source.name
    before = store.get_fetch(name, item.url)
    answer, article = fetched.answer, fetched.article
    if fetched.error is not None or answer is None or article is None:
        error = fetched.error
        report.failed[item.url] = str(error)
        prefix = RETRY if getattr(error, "transient", False) else FAILED
        store.put_fetch(_failed(name, item.url, prefix + str(error), before))
        return
    store.put_page(answer.content_hash, answer.body)
    if not article.text.strip():
        report.failed[item.url] = "no main text"
        status = FAILED + "no main text"
        store.put_fetch(_fetch_record(name, item.url, answer.url, status, answer, before))
        return
    canonical = normalise_url(article.url or answer.url)
    text_key = _text_key(article.text)
    same = inbox.by_text.get(text_key)
    if same is not None:
        same["urls"] = [*same["urls"], item.url]
        _rewrite(inbox.path, inbox.records)
        report.duplicates += 1
        store.put_fetch(_fetch_record(name, item.url, canonical, "duplicate", answer, before))
        return
    record = {
        # From the URL it was found at: pages that wrongly all name one canonical URL
        # (the home page) are still distinct records.
        "id": hashlib.sha256(item.url.encode()).hexdigest()[:16],
        "source": name,
        "url": canonical,
        "urls": [item.url],
        "title": article.title or item.title,
        "published": article.published or item.published,
        "text": article.text,
        "lang": inbox.source.lang,
        "fetched_at": _now(),
    }
    _append(inbox.path, record)
    inbox.records.append(record)
    inbox.by_text[text_key] = record
    report.new += 1
    store.put_fetch(_fetch_record(name, item.url, canonical, "ok", answer, before))


def _text_key(text: str) -> str:
    """One main text however its lines and spaces fall: a copy of an article matches it."""
    return text_hash(" ".join(text.split()))


def _read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed collect: the run rejects it, we skip it
        if isinstance(record, dict) and isinstance(record.get("text"), str):
            record.setdefault("urls", [record.get("url", "")])
            records.append(record)
    return records


def _append(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _rewrite(path: Path, records: list[dict]) -> None:
    """Replace the file atomically: a run reading the inbox meanwhile sees old or new."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    os.replace(temporary, path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _fetch_record(
    source: str, url: str, canonical: str, status: str, answer: Response, before: Fetch | None
) -> Fetch:
    now = _now()
    return Fetch(
        source,
        url,
        canonical,
        status,
        answer.etag,
        answer.last_modified,
        answer.content_hash if answer.body else "",
        before.first_seen if before else now,
        now,
    )


def _failed(source: str, url: str, reason: str, before: Fetch | None) -> Fetch:
    now = _now()
    return Fetch(source, url, url, reason, "", "", "", before.first_seen if before else now, now)


def iter_lines(reports: list[SourceReport]) -> Iterator[str]:
    """The summary a user reads: a line per source, then each failed URL with its reason."""
    for report in reports:
        yield report.line()
    for report in reports:
        for url, reason in report.failed.items():
            yield f"  {report.name}: {url}: {reason}"
