"""`parallax collect` against the fixture news site (tests/news_site.py) on 127.0.0.1: what is
collected, what is skipped and why, and that a second collect fetches nothing new."""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from news_site import MAX_PAGE_BYTES, RUSSIAN, configure, serving

from pipeline.collect import Fetcher, FetchError, Source, collect, load_sources, normalise_url
from pipeline.config import ConfigError, load_config
from pipeline.store import Store

PARALLAX = Path(sys.executable).parent / "parallax"


@pytest.fixture
def site():
    with serving() as served:
        yield served


def collect_once(config_path: Path) -> list:
    config = load_config(config_path)
    with contextlib.closing(Store(config.paths.cache_dir)) as store:
        return collect(load_sources(config.collect.sources), config.collect, store)


def test_collect_keeps_each_articles_main_text_once_and_says_why_others_failed(tmp_path, site):
    config = configure(tmp_path, site)

    (report,) = collect_once(config)

    records = [
        json.loads(line)
        for line in (tmp_path / "inbox" / "herald.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    by_path = {r["urls"][0].removeprefix(site.base): r for r in records}
    assert set(by_path) == {
        "/news/dam.html", "/news/ru-declared.html", "/news/flaky.html", "/news/uk.html",
        "/news/ru-undeclared.html", "/news/schools.html",
    }  # fmt: skip
    assert report.new == 6 and report.duplicates == 1
    # The AMP copy is the same article under a second URL.
    assert by_path["/news/dam.html"]["urls"] == [f"{site.base}/news/dam.html",
                                                 f"{site.base}/amp/dam.html"]  # fmt: skip
    for record in records:
        assert record["source"] == "herald" and record["lang"] == "en"
        assert record["title"] and record["published"] and record["fetched_at"]
        lines = record["text"].splitlines()  # the three paragraphs, after the headline
        assert len(lines) == 3 or (len(lines) == 4 and lines[0] == record["title"]), lines
        for furniture in ("cookies", "Home", "Related", "Ten tips", "Privacy", "HIDDEN"):
            assert furniture not in record["text"]
    # Cyrillic decoded whether the page declares its code page or not.
    assert "Во вторник рано утром прорвало" in by_path["/news/ru-declared.html"]["text"]
    assert "Дамба Кессельского" in by_path["/news/ru-undeclared.html"]["text"]
    assert "Острові" in by_path["/news/uk.html"]["text"]
    assert by_path["/news/schools.html"]["title"] == "Schools reopen after the flood"
    failed = {url.removeprefix(site.base): reason for url, reason in report.failed.items()}
    assert failed == {
        "/news/missing.html": "HTTP 404",
        "/private/secret.html": "disallowed by robots.txt",
        "/news/slow.html": "timed out after 2 tries",
        "/news/loop.html": "too many redirects",
        "/news/big.html": f"larger than {MAX_PAGE_BYTES} bytes",
        "/news/report.pdf": "not HTML (application/pdf)",
    }
    assert site.requests["/private/secret.html"] == 0  # robots.txt is asked first
    assert site.requests["/news/flaky.html"] == 2  # a 500, then the page
    assert site.requests["/news/dam.html"] == 1  # in a feed, the sitemap and the URL file
    assert not [path for path in site.requests if "utm_" in path]  # its tracking tail dropped


def test_a_second_collect_fetches_nothing_new_and_polls_feeds_conditionally(tmp_path, site):
    config = configure(tmp_path, site)
    collect_once(config)
    inbox = (tmp_path / "inbox" / "herald.jsonl").read_text(encoding="utf-8")
    before = Counter(site.requests)

    (report,) = collect_once(config)

    asked = site.requests - before
    # Feeds and sitemaps answer 304 to If-None-Match; only the page that timed out (a
    # transient failure) is tried again; a 404, robots.txt and the rest are not.
    assert report.new == 0 and report.duplicates == 0
    pages = {path for path in asked if path.startswith(("/news/", "/amp/", "/private/"))}
    assert pages == {"/news/slow.html"}
    assert site.not_modified == Counter(
        {"/feed.rss": 1, "/atom.xml": 1, "/sitemap.xml": 1, "/sitemap-news.xml": 1}
    )
    assert (tmp_path / "inbox" / "herald.jsonl").read_text(encoding="utf-8") == inbox
    assert set(report.failed) == {f"{site.base}/news/slow.html"}


def test_raw_pages_are_kept_in_the_cache_for_a_later_extractor(tmp_path, site):
    config_path = configure(tmp_path, site)
    collect_once(config_path)
    config = load_config(config_path)
    with contextlib.closing(Store(config.paths.cache_dir)) as store:
        fetch = store.get_fetch("herald", f"{site.base}/news/ru-declared.html")
        assert fetch is not None and fetch.status == "ok"
        assert store.get_page(fetch.content_hash) == RUSSIAN.encode("cp1251")
        assert store.get_fetch("herald", f"{site.base}/amp/dam.html").status == "duplicate"


def test_bad_lines_in_a_url_file_fail_alone_and_a_second_source_gets_its_own_copy(tmp_path, site):
    """A malformed URL, a line that is no http(s) URL and a line that is not UTF-8 each fail
    with a reason, and the good URLs of the file are still fetched; a URL one source fetched
    is still collected for another source that lists it."""
    config_path = configure(tmp_path, site)
    (tmp_path / "odd.txt").write_bytes(
        b"http://[::1\nftp://files.example/x\ngarbage line\n\xff\xfe broken\n"
        + f"{site.base}/news/uk.html\n".encode()
    )
    with (tmp_path / "sources.yaml").open("a", encoding="utf-8") as handle:
        handle.write("  - name: courier\n    url_files: [odd.txt]\n")
    herald, courier = collect_once(config_path)
    assert herald.new == 6
    assert courier.new == 1
    reasons = {url.removeprefix(str(tmp_path) + "/"): why for url, why in courier.failed.items()}
    assert reasons == {
        "http://[::1": "Invalid IPv6 URL",
        "ftp://files.example/x": "not an http(s) URL",
        "garbage line": "not an http(s) URL",
        "odd.txt:4": "line is not UTF-8",
    }
    (record,) = [
        json.loads(line)
        for line in (tmp_path / "inbox" / "courier.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert record["source"] == "courier" and "Острові" in record["text"]


def test_a_host_whose_robots_txt_fails_is_not_crawled_and_is_tried_again(tmp_path, site):
    """RFC 9309: robots.txt that cannot be read (a 5xx) means nothing may be fetched."""
    site.robots_status = 500
    (report,) = collect_once(configure(tmp_path, site))
    assert report.new == 0
    pages = [path for path in site.requests if path.startswith(("/news/", "/amp/"))]
    assert pages == []
    assert set(report.failed.values()) >= {"robots.txt unreadable (HTTP 500)"}
    site.robots_status = 200
    (again,) = collect_once(configure(tmp_path, site))
    assert again.new == 6


def test_the_delay_between_two_requests_to_one_host_is_kept(site):
    config = load_config(overrides={"collect": {"per_host_delay_seconds": 5.0}}).collect
    waited: list[float] = []
    now = [100.0]
    fetcher = Fetcher(config, sleep=lambda s: (waited.append(s), now.__setitem__(0, now[0] + s)),
                      clock=lambda: now[0])  # fmt: skip
    fetcher.get(f"{site.base}/feed.rss")  # robots.txt, then the feed: one wait between
    fetcher.get(f"{site.base}/atom.xml")
    fetcher.close()
    assert waited == [5.0, 5.0]


def test_pages_of_two_hosts_are_fetched_at_once_but_one_host_gets_one_request_at_a_time(
    tmp_path,
):
    config = load_config(
        overrides={
            "paths": {"cache_dir": str(tmp_path / "cache")},
            "collect": {
                "inbox": str(tmp_path / "inbox"),
                "per_host_delay_seconds": 0,
                "max_concurrent_requests": 4,
            },
        }  # fmt: skip
    )
    with serving() as first, serving() as second:  # two ports: two hosts
        sources = []
        for name, site in (("first", first), ("second", second)):
            urls = tmp_path / f"{name}.txt"
            urls.write_text("".join(f"{site.base}/news/wait-{n}.html\n" for n in range(3)))
            sources.append(Source(name, "en", url_files=(urls,)))
        with contextlib.closing(Store(config.paths.cache_dir)) as store:
            reports = collect(sources, config.collect, store)
        assert [report.new for report in reports] == [3, 3]
        for site in (first, second):
            spans = sorted(site.busy)
            assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
        assert any(
            a_start < b_end and b_start < a_end
            for a_start, a_end in first.busy
            for b_start, b_end in second.busy
        ), "the two hosts were never fetched at the same time"
        # The inbox is written in the order the URLs were listed, whatever finished first.
        lines = (tmp_path / "inbox" / "first.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["url"].rsplit("/", 1)[1] for line in lines] == [
            "wait-0.html", "wait-1.html", "wait-2.html"
        ]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTP://Example.COM:80/a?utm_source=rss&id=3#comments", "http://example.com/a?id=3"),
        ("https://example.com/a?b=2&a=1&fbclid=x", "https://example.com/a?a=1&b=2"),
        ("http://[::1", "http://[::1"),  # malformed: fetching it says so
        ("ftp://example.com/a#b", "ftp://example.com/a#b"),  # not http(s): refused when fetched
    ],
)
def test_urls_are_normalised_before_they_are_fetched(url, normal):
    assert normalise_url(url) == normal


def test_collect_then_run_from_the_command_line(tmp_path, site):
    """What a user does: `parallax collect`, then `parallax run` over the inbox."""
    config = configure(tmp_path, site)
    done = subprocess.run(
        [str(PARALLAX), "collect", "--config", str(config)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = done.stdout.splitlines()
    assert summary[0].startswith("herald: 6 new, 0 unchanged, 1 duplicate, 6 failed")
    assert "6 new articles in" in summary[-1]
    ran = subprocess.run(
        [str(PARALLAX), "run", "--input", str(tmp_path / "inbox"), "--config", str(config)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    articles = (tmp_path / "out" / "latest" / "articles.csv").read_text(encoding="utf-8")
    assert f"{site.base}/news/dam.html" in articles and "Dam bursts in Ostrow" in articles


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources: x\n", "expected `sources:` followed by a list"),
        ("sources:\n  - lang: en\n", "sources[0].name: required"),
        ("sources:\n  - name: a\n    feeds: http://x\n", "sources[0].feeds: expected a list"),
        ("sources:\n  - name: a\n    colour: red\n", "sources[0].colour: unknown key"),
        ("sources:\n  - name: a\n  - name: a\n", "source 'a' is listed twice"),
        ("sources:\n  - name: .hidden\n", "does not start with '.'"),
        ("sources:\n  - name: a\n    lang: English\n", "sources[0].lang: expected a language"),
        ("sources:\n  - name: a/b\n", "expected a name without '/'"),
    ],
)
def test_a_bad_sources_file_names_the_entry(tmp_path, text, message):
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_sources(path)


def test_fetch_error_for_a_transient_failure_says_so():
    assert FetchError("timed out after 3 tries", transient=True).transient
    assert not FetchError("HTTP 404").transient
