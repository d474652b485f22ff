"""A fixture news site for `parallax collect`, served on 127.0.0.1 by a real HTTP server:
an RSS feed, an Atom feed, a sitemap index, pages in three languages and two encodings with
page furniture around them, and every way a fetch fails (404, 500 then 200, a read timeout, a
redirect loop, robots.txt, a page over the size cap, a PDF)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def page(title: str, paragraphs: list[str], lang: str = "en", charset: str | None = "utf-8") -> str:
    """A news page as sites serve them: cookie banner, menu, the article, hidden text, a list
    of related articles and a footer around three or more paragraphs."""
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<!doctype html><html lang="{lang}"><head>{meta}<title>{title} | Valley Herald</title>'
        '<meta property="article:published_time" content="2026-11-30T08:00:00Z"></head><body>'
        '<div class="cookie-banner">We use cookies to improve your experience. Accept</div>'
        '<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li></ul></nav>'
        f"<article><h1>{title}</h1>{body}"
        '<p style="display:none">HIDDEN TEXT no reader of this page ever sees.</p></article>'
        '<aside><h2>Related</h2><ul><li><a href="/x">Ten tips for a dry basement</a></li>'
        "</ul></aside><footer>Privacy Policy | Contact Us</footer></body></html>"
    )


DAM = page(
    "Dam bursts in Ostrow",
    [
        "The Kessel reservoir dam burst early on Tuesday and flooded some 200 houses in the "
        "village of Ostrow, the regional government said.",
        "Rescue teams worked through the night to reach residents trapped on their roofs, and "
        "the governor said the army had sent two helicopters to help.",
        "Insurers said it was too early to estimate the damage, but farmers fear the loss of "
        "the whole autumn harvest in the valley.",
    ],
)
RUSSIAN = page(
    "Прорыв дамбы в Острове",
    [
        "Во вторник рано утром прорвало дамбу Кессельского водохранилища, затоплены около "
        "двухсот домов в селе Остров, сообщило региональное правительство.",
        "Спасатели всю ночь добирались до жителей, оказавшихся на крышах, а губернатор сказал, "
        "что армия направила на помощь два вертолёта.",
        "Страховщики говорят, что оценивать ущерб пока рано, но фермеры опасаются потерять "
        "весь осенний урожай в долине.",
    ],
    lang="ru",
    charset="windows-1251",
)
# The same story in another outlet's words, its code page declared nowhere.
RUSSIAN_UNDECLARED = page(
    "Дамба прорвана",
    [
        "Дамба Кессельского водохранилища не выдержала во вторник, вода залила около двухсот "
        "домов в Острове.",
        "Жителей снимали с крыш всю ночь; армия прислала два вертолёта, сообщил губернатор.",
        "Фермеры боятся, что осенний урожай в долине погиб целиком.",
    ],
    lang="ru",
    charset=None,
)
UKRAINIAN = page(
    "Прорив дамби в Острові",
    [
        "У вівторок рано вранці прорвало дамбу Кессельського водосховища, затоплено близько "
        "двохсот будинків у селі Острів, повідомив обласний уряд.",
        "Рятувальники всю ніч діставалися до мешканців, які опинилися на дахах, а губернатор "
        "сказав, що армія надіслала на допомогу два гелікоптери.",
        "Страховики кажуть, що оцінювати збитки ще зарано, але фермери бояться втратити весь "
        "осінній урожай у долині.",
    ],
    lang="uk",
)
SITEMAP_ONLY = page(
    "Schools reopen after the flood",
    [
        "Schools in the district of Ostrow reopened on Friday, a week after the Kessel dam "
        "burst, the education office said in a statement.",
        "Pupils from the three flooded streets are taught in the town hall until their "
        "school building has dried out, teachers said.",
        "Parents were asked to bring boots, since the school yard is still covered in mud.",
    ],
)

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Valley Herald</title>
<link>{base}/</link><description>News</description>
<item><title>Dam bursts</title><link>{base}/news/dam.html</link></item>
<item><title>Dam (AMP)</title><link>{base}/amp/dam.html</link></item>
<item><title>Прорыв дамбы</title><link>{base}/news/ru-declared.html</link></item>
<item><title>Missing</title><link>{base}/news/missing.html</link></item>
<item><title>Flaky</title><link>{base}/news/flaky.html</link></item>
<item><title>Secret</title><link>{base}/private/secret.html</link></item>
<item><title>Slow</title><link>{base}/news/slow.html</link></item>
<item><title>Loop</title><link>{base}/news/loop.html</link></item>
<item><title>Big</title><link>{base}/news/big.html</link></item>
<item><title>PDF</title><link>{base}/news/report.pdf</link></item>
</channel></rss>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Valley Herald (Atom)</title><id>urn:herald</id><updated>2026-11-30T08:00:00Z</updated>
<entry><title>Прорив дамби</title><id>urn:uk</id><updated>2026-11-30T08:00:00Z</updated>
<link href="{base}/news/uk.html"/></entry>
<entry><title>Undeclared</title><id>urn:ru2</id><updated>2026-11-30T08:00:00Z</updated>
<link href="{base}/news/ru-undeclared.html"/></entry>
</feed>"""
SITEMAP_INDEX = """<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{base}/sitemap-news.xml</loc></sitemap></sitemapindex>"""
NEWS_SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>{base}/news/schools.html</loc><news:news><news:publication_date>2026-11-29
</news:publication_date><news:title>Schools reopen</news:title></news:news></url>
<url><loc>{base}/news/dam.html</loc></url>
</urlset>"""
READ_TIMEOUT = 0.5
MAX_PAGE_BYTES = 100_000
WAIT = 0.3  # seconds /news/wait-N.html takes to answer


class Site:
    """The fixture site: what each path answers, and how often each was asked."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()  # 304 answers, by path
        self.flaky_left = 1  # answers 500 this many times, then the page
        self.robots_status = 200
        self.busy: list[tuple[float, float]] = []  # when each /news/wait-N.html was answered
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # else each answer waits 40 ms for a delayed ACK

            def log_message(self, *args: object) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:
                site.requests[self.path] += 1
                site.answer(self)

        return Handler

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        path, base = request.path, self.base
        feeds = {
            "/feed.rss": (RSS, "application/rss+xml"),
            "/atom.xml": (ATOM, "application/atom+xml"),
            "/sitemap.xml": (SITEMAP_INDEX, "application/xml"),
            "/sitemap-news.xml": (NEWS_SITEMAP, "application/xml"),
        }
        pages = {
            "/news/dam.html": (DAM, "utf-8", "text/html; charset=utf-8"),
            "/amp/dam.html": (DAM.replace("<nav>", "<nav class='amp'>"), "utf-8", "text/html"),
            "/news/ru-declared.html": (RUSSIAN, "cp1251", "text/html; charset=windows-1251"),
            "/news/ru-undeclared.html": (RUSSIAN_UNDECLARED, "cp1251", "text/html"),
            "/news/uk.html": (UKRAINIAN, "utf-8", "text/html; charset=utf-8"),
            "/news/schools.html": (SITEMAP_ONLY, "utf-8", "text/html"),
            "/private/secret.html": (DAM, "utf-8", "text/html"),
        }  # fmt: skip
        if path == "/robots.txt":
            rules = b"User-agent: *\nDisallow: /private/\n"
            self._send(request, self.robots_status, rules, "text/plain")
        elif path in feeds:
            text, kind = feeds[path]
            etag = f'"{path}-v1"'
            if request.headers.get("If-None-Match") == etag:
                self.not_modified[path] += 1
                self._send(request, 304, b"", kind, etag)
            else:
                self._send(request, 200, text.format(base=base).encode(), kind, etag)
        elif path in pages:
            text, encoding, kind = pages[path]
            self._send(request, 200, text.encode(encoding), kind)
        elif path == "/news/flaky.html":
            if self.flaky_left:
                self.flaky_left -= 1
                self._send(request, 500, b"busy", "text/plain")
            else:
                self._send(request, 200, SITEMAP_ONLY.replace("Schools", "Flaky").encode(),
                           "text/html")  # fmt: skip
        elif path.startswith("/news/wait-"):  # a page that takes a while: for concurrency
            start = time.monotonic()
            time.sleep(WAIT)
            self.busy.append((start, time.monotonic()))
            story = page(f"Story {path}", [f"Paragraph {n} of the story at {path}, told in full."
                                           for n in range(3)])  # fmt: skip
            self._send(request, 200, story.encode(), "text/html")
        elif path == "/news/slow.html":
            time.sleep(READ_TIMEOUT * 3)
            self._send(request, 200, DAM.encode(), "text/html")
        elif path == "/news/loop.html":
            request.send_response(302)
            request.send_header("Location", "/news/loop.html")
            request.send_header("Content-Length", "0")
            request.end_headers()
        elif path == "/news/big.html":
            self._send(request, 200, page("Big", ["word " * 40_000]).encode(), "text/html")
        elif path == "/news/report.pdf":
            self._send(request, 200, b"%PDF-1.4 ...", "application/pdf")
        else:
            self._send(request, 404, b"not found", "text/plain")

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler, status: int, body: bytes, kind: str, etag: str = ""
    ) -> None:
        request.send_response(status)
        request.send_header("Content-Type", kind)
        if etag:
            request.send_header("ETag", etag)
        request.send_header("Last-Modified", formatdate(0, usegmt=True))
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            request.wfile.write(body)


@contextlib.contextmanager
def serving() -> Iterator[Site]:
    """The fixture site, served in a thread while the block runs."""
    served = Site()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()


def configure(tmp_path: Path, site: Site, enabled: bool = False) -> Path:
    """A config file and a sources file for the fixture site; returns the config's path.
    `enabled`: the scheduled flow collects before it runs."""
    (tmp_path / "urls.txt").write_text(
        # A page the feeds list too, with a tracking tail: the same URL, fetched once.
        f"# pages outside the feeds\n{site.base}/news/dam.html?utm_source=mail#top\n\n",
        encoding="utf-8",
    )
    (tmp_path / "sources.yaml").write_text(
        "sources:\n"
        "  - name: herald\n"
        "    lang: en\n"
        f"    feeds: [{site.base}/feed.rss, {site.base}/atom.xml]\n"
        f"    sitemaps: [{site.base}/sitemap.xml]\n"
        "    url_files: [urls.txt]\n",
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        "collect:\n"
        f"  enabled: {'true' if enabled else 'false'}\n"
        f"  sources: {tmp_path / 'sources.yaml'}\n"
        f"  inbox: {tmp_path / 'inbox'}\n"
        "  connect_timeout_seconds: 2\n"
        f"  read_timeout_seconds: {READ_TIMEOUT}\n"
        f"  max_page_bytes: {MAX_PAGE_BYTES}\n"
        "  max_redirects: 3\n"
        "  per_host_delay_seconds: 0\n"
        "  retries: 1\n"
        "  backoff_seconds: 0.01\n"
        f"paths:\n  cache_dir: {tmp_path / 'cache'}\n  output_dir: {tmp_path / 'out'}\n",
        encoding="utf-8",
    )
    return config
