"""Tests for pipeline/ingest: each format, encoding and awkward path, built in tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import write

from benchmarks import extraction as extraction_bench
from pipeline.ingest import SUPPORTED_SUFFIXES, IngestError, html, read_corpus
from pipeline.ingest.encoding import decode
from pipeline.records import Article

RUSSIAN = "НАТО считает отправку войск КНДР в РФ опасным расширением войны России против Украины."
UKRAINIAN = (
    "Росія та КНДР підписали угоду, яка передбачає допомогу в разі агресії. Їхні війська є тут."
)
ENGLISH = "NATO allies strongly condemn the deployment of North Korean troops to Russia."


def corpus(root: Path, **kwargs: int) -> tuple[dict[str, Article], dict[str, str]]:
    """Articles by id and reject reasons by input, failing on an id seen twice."""
    articles: dict[str, Article] = {}
    rejects: dict[str, str] = {}
    for record in read_corpus(root, **kwargs):
        if isinstance(record, Article):
            assert record.id not in articles
            articles[record.id] = record
        else:
            assert record.input not in rejects
            rejects[record.input] = record.reason
    return articles, rejects


def test_supported_suffixes_are_the_five_formats():
    assert SUPPORTED_SUFFIXES == (".txt", ".md", ".html", ".htm", ".jsonl")


def test_plain_text_file_is_the_article_text_as_is(tmp_path):
    write(tmp_path, "tass/a.txt", f"{ENGLISH}\n\n  {RUSSIAN}\n")

    articles, rejects = corpus(tmp_path)

    assert rejects == {}
    assert articles == {
        "tass/a.txt": Article(id="tass/a.txt", text=f"{ENGLISH}\n\n  {RUSSIAN}\n", source="tass")
    }


def test_markdown_front_matter_is_metadata_and_markup_is_removed(tmp_path):
    write(
        tmp_path,
        "kyiv/news.md",
        "---\n"
        "title: NATO condemns DPRK troops\n"
        "source: ukrinform\n"
        "url: https://example.org/a\n"
        "published: 2024-11-08\n"
        "tags: [nato]\n"
        "---\n"
        "# Headline with *emphasis* #\n"
        "\n"
        "Allies **strongly** condemn the [deployment](https://example.org/x) of troops\n"
        "to Russia, said the_secretary_general ![photo](p.jpg) in `Brussels`.\n"
        "\n"
        "- first item\n"
        "2. second item\n"
        "\n"
        "> A quoted _statement_.\n"
        "\n"
        "```\n"
        "kept # as written\n"
        "```\n"
        "Setext heading\n"
        "--------------\n"
        "Price is 5 \\* 3 \\_ok\\_.\n"
        "\n"
        "[ref]: https://example.org/ref\n"
        "\n"
        "&laquo;Нафтогаз&raquo;&nbsp;&mdash; see [the claim](https://example.org/a_(b))"
        " <b>now</b>.\n"
        "\n"
        "| outlet | claim |\n"
        "|---|---|\n"
        "| wire | filed |\n",
    )

    articles, rejects = corpus(tmp_path)

    assert rejects == {}
    assert articles["kyiv/news.md"] == Article(
        id="kyiv/news.md",
        text="Headline with emphasis\n"
        "Allies strongly condemn the deployment of troops to Russia, said the_secretary_general"
        " in Brussels.\n"
        "first item\n"
        "second item\n"
        "A quoted statement.\n"
        "kept # as written\n"
        "Setext heading\n"
        "Price is 5 * 3 _ok_.\n"
        "«Нафтогаз» — see the claim now.\n"
        "outlet claim\n"
        "wire filed",
        source="ukrinform",
        title="NATO condemns DPRK troops",
        url="https://example.org/a",
        published="2024-11-08",
    )


def test_markdown_without_front_matter_takes_source_from_folder(tmp_path):
    write(tmp_path, "rbc/a.md", f"## {RUSSIAN}\n\n{UKRAINIAN}\n")

    articles, _ = corpus(tmp_path)

    assert articles["rbc/a.md"] == Article(
        id="rbc/a.md", text=f"{RUSSIAN}\n{UKRAINIAN}", source="rbc"
    )


def test_markdown_with_broken_front_matter_is_rejected(tmp_path):
    write(tmp_path, "a.md", "---\ntitle: [unclosed\n---\nBody text.\n")

    articles, rejects = corpus(tmp_path)

    assert articles == {}
    assert rejects["a.md"].startswith("front matter is not valid YAML")


NEWS_PAGE = (
    "<!doctype html><html><head>"
    "<title>Dam bursts in Ostrow | The Valley Herald</title>"
    '<meta property="article:published_time" content="2024-11-08T10:00:00Z">'
    '<link rel="canonical" href="https://herald.example/2024/11/dam">'
    "<style>p { color: red }</style><script>var secret = 'SCRIPT TEXT';</script>"
    "</head><body>"
    '<div class="cookie-banner">We use cookies to improve your experience. Accept all</div>'
    '<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>'
    '<li><a href="/sport">Sport</a></li></ul></nav>'
    "<article><h1>Dam bursts in Ostrow</h1>"
    "<p>The Kessel reservoir dam burst early on Tuesday and flooded some 200 houses in the "
    "village of Ostrow, the regional government said.</p>"
    '<p style="display: none">STYLE-HIDDEN TEXT that no reader of the page ever sees here.</p>'
    "<p hidden>ATTRIBUTE-HIDDEN TEXT that no reader of the page ever sees here.</p>"
    '<p aria-hidden="true">ARIA-HIDDEN TEXT that no reader of the page ever sees here.</p>'
    '<span class="visually-hidden">CLASS-HIDDEN TEXT that no reader ever sees.</span>'
    '<p style="position:absolute; clip: rect(0 0 0 0)">CLIP-HIDDEN TEXT never seen.</p>'
    "<noscript>NOSCRIPT TEXT shown only without scripts.</noscript>"
    "<template><p>TEMPLATE TEXT that is never rendered.</p></template>"
    "<p>Rescue teams worked through the night to reach residents trapped on their roofs, and "
    "the governor said the army had sent two helicopters to help.</p>"
    "<p>Insurers said it was too early to estimate the damage, but farmers fear the loss of "
    "the whole autumn harvest in the valley.</p></article>"
    '<aside><h2>Related</h2><ul><li><a href="/a">Floods in the north: what we know</a></li>'
    '<li><a href="/b">Ten tips for a dry basement</a></li></ul></aside>'
    "<footer><p>Privacy Policy | Contact Us | All Rights Reserved.</p></footer>"
    "</body></html>"
)


def test_html_keeps_the_main_text_title_url_and_date_and_nothing_hidden(tmp_path):
    write(tmp_path, "herald/dam.html", NEWS_PAGE)

    articles, rejects = corpus(tmp_path)

    assert rejects == {}
    article = articles["herald/dam.html"]
    lines = article.text.splitlines()
    assert [line for line in lines if line.startswith(("The Kessel", "Rescue", "Insurers"))] == [
        line for line in lines if "." in line
    ]  # every sentence-bearing line is the article's
    assert len([line for line in lines if "." in line]) == 3
    for furniture in ("cookies", "Home", "Sport", "Related", "Ten tips", "Privacy", "SCRIPT"):
        assert furniture not in article.text
    assert "HIDDEN" not in article.text and "NOSCRIPT" not in article.text
    assert "TEMPLATE" not in article.text
    assert article.title == "Dam bursts in Ostrow"
    assert article.url == "https://herald.example/2024/11/dam"
    assert article.published == "2024-11-08T10:00:00Z"
    assert article.source == "herald"


def test_a_copyright_year_is_no_publication_date(tmp_path):
    """Only dates the markup states: trafilatura's extensive search made "© 2024 River
    Gazette" a publication date (2024-01-01)."""
    write(
        tmp_path,
        "a.html",
        NEWS_PAGE.replace(
            '<meta property="article:published_time" content="2024-11-08T10:00:00Z">', ""
        ).replace("All Rights Reserved.", "© 2024 Herald"),
    )
    articles, _ = corpus(tmp_path)
    assert articles["a.html"].published == ""


def test_html_without_a_main_text_keeps_its_visible_text_as_lines(tmp_path):
    """Where trafilatura finds no main text, the page's visible text stands in, a block a
    line: <br>, list items and table rows split lines, cells are joined by a space."""
    root = html.parse(
        "<html><head><title>T</title><style>p {}</style></head><body>"
        "<h1>Stoltenberg   speaks</h1>"
        "<p>NATO is&nbsp;confident that the <b>DPRK</b>\n provides support.</p>"
        "<noscript>NOSCRIPT TEXT</noscript><template><p>TEMPLATE TEXT</p></template>"
        "<div>First line<br>second line</div>"
        "<ul><li>one</li><li>two</li></ul>"
        "<table><tr><td>cell a</td><td>cell b</td></tr></table>"
        "<pre>kept\n  as is</pre>"
        "<svg><title>SVG TITLE</title></svg>"
        "</body></html>"
    )
    lines = [" ".join(line.split()) for line in html.visible_text(root).split("\n")]
    assert [line for line in lines if line] == [
        "Stoltenberg speaks",
        "NATO is confident that the DPRK provides support.",
        "First line",
        "second line",
        "one",
        "two",
        "cell a cell b",
        "kept",
        "as is",
    ]
    write(tmp_path, "brief.html", "<p>Dam bursts.</p><p>200 houses flooded.</p>")
    # An XML declaration with an encoding, in a str, is no reason to fail.
    write(tmp_path, "x.html", '<?xml version="1.0" encoding="utf-8"?><html><p>Dam bursts.</p>')
    articles, _ = corpus(tmp_path)
    assert articles["brief.html"].text == "Dam bursts.\n200 houses flooded."
    assert articles["x.html"].text == "Dam bursts."


def test_html_page_that_never_closes_head_still_shows_its_body(tmp_path):
    write(tmp_path, "a.htm", f"<html><head><title>T</title><body><p>{RUSSIAN}</p>")

    articles, _ = corpus(tmp_path)

    assert articles["a.htm"].text == RUSSIAN
    assert articles["a.htm"].title == "T"


def test_jsonl_records_become_articles_with_record_ids(tmp_path):
    lines = [
        {"id": "r1", "text": RUSSIAN, "source": "tass", "title": "T", "published": "2024-11-08"},
        {"id": 7, "text": "Line one\r\nline two\u2028same line", "url": "https://x.example/7"},
    ]
    write(tmp_path, "feeds/all.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")

    articles, rejects = corpus(tmp_path)

    assert rejects == {}
    assert articles == {
        "feeds/all.jsonl#r1": Article(
            id="feeds/all.jsonl#r1",
            text=RUSSIAN,
            source="tass",
            title="T",
            published="2024-11-08",
        ),
        "feeds/all.jsonl#7": Article(
            id="feeds/all.jsonl#7",
            text="Line one\nline two\u2028same line",
            source="feeds",
            url="https://x.example/7",
        ),
    }


def test_jsonl_bad_records_are_rejected_one_by_one_and_good_ones_kept(tmp_path):
    write(
        tmp_path,
        "feed.jsonl",
        "\n".join(
            [
                json.dumps({"id": "a", "text": ENGLISH}),
                '{"id": "b", "text": "unterminated',
                json.dumps({"id": "c"}),
                json.dumps({"id": "a", "text": "again"}),
                json.dumps(["not", "an", "object"]),
                json.dumps({"id": "d", "text": "   "}),
                json.dumps({"id": "e", "text": UKRAINIAN, "title": 5}),
                "[" * 100_000,
                json.dumps({"id": "f", "text": UKRAINIAN}),
            ]
        ),
    )

    articles, rejects = corpus(tmp_path)

    assert {article_id: a.text for article_id, a in articles.items()} == {
        "feed.jsonl#a": ENGLISH,
        "feed.jsonl#f": UKRAINIAN,
    }
    assert articles["feed.jsonl#a"].source == "feed"
    assert rejects.keys() == {
        "feed.jsonl:2",
        "feed.jsonl:3",
        "feed.jsonl:4",
        "feed.jsonl:5",
        "feed.jsonl#d",
        "feed.jsonl:7",
        "feed.jsonl:8",
    }
    assert rejects["feed.jsonl:2"].startswith("invalid JSON")
    assert rejects["feed.jsonl:3"] == "missing field 'text'"
    assert rejects["feed.jsonl:4"] == "duplicate id 'a' (first on line 1)"
    assert rejects["feed.jsonl:5"] == "record is not a JSON object"
    assert rejects["feed.jsonl#d"] == "empty article"
    assert rejects["feed.jsonl:7"] == "field 'title' must be a string"
    assert rejects["feed.jsonl:8"].startswith("invalid JSON")


def test_a_jsonl_publication_date_given_as_unix_time_is_read_as_a_date(tmp_path):
    """Feeds dumped to JSON often give `published` as Unix time, in seconds or milliseconds."""
    write(
        tmp_path,
        "feed.jsonl",
        "\n".join(
            json.dumps({"id": key, "text": ENGLISH, "published": when})
            for key, when in (("s", 1764566400), ("ms", 1764566400500), ("bad", 1e300))
        ),
    )
    articles, rejects = corpus(tmp_path)
    assert articles["feed.jsonl#s"].published == "2025-12-01T05:20:00+00:00"
    assert articles["feed.jsonl#ms"].published == "2025-12-01T05:20:00.500000+00:00"
    assert rejects == {"feed.jsonl:3": "field 'published' is no date: 1e+300"}


def test_jsonl_file_without_records_is_rejected(tmp_path):
    write(tmp_path, "empty.jsonl", "\n \n")

    assert corpus(tmp_path) == ({}, {"empty.jsonl": "no records"})


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (RUSSIAN, "utf-8-sig"),
        (UKRAINIAN, "utf-16"),
        (UKRAINIAN, "utf-16-le-bom"),
        (RUSSIAN, "utf-16-be-bom"),
        (ENGLISH, "utf-16-le"),
        (UKRAINIAN, "utf-16-be"),
        (RUSSIAN, "cp1251"),
        (UKRAINIAN, "cp1251"),
        (RUSSIAN, "koi8_r"),
        (UKRAINIAN, "koi8_u"),
        ("НАТО ОСУЖДАЕТ ОТПРАВКУ ВОЙСК КНДР", "cp1251"),
        ("НАТО ОСУЖДАЕТ ОТПРАВКУ ВОЙСК КНДР", "koi8_r"),
        ("ГЕНСЕК НАТО ЗАЯВИВ ПРО ПІДТРИМКУ УКРАЇНИ", "cp1251"),
        ("He said “no” — twice.", "cp1252"),
    ],
)
def test_encoding_is_detected_and_text_restored(text, codec):
    boms = {
        "utf-16-le-bom": ("utf-16-le", b"\xff\xfe"),
        "utf-16-be-bom": ("utf-16-be", b"\xfe\xff"),
    }
    codec, bom = boms.get(codec, (codec, b""))

    assert decode(bom + text.encode(codec)) == text


def test_cyrillic_file_in_each_single_byte_encoding_reads_the_same(tmp_path):
    write(tmp_path, "ru/cp1251.txt", RUSSIAN.encode("cp1251"))
    write(tmp_path, "ru/koi8.txt", RUSSIAN.encode("koi8_r"))
    write(tmp_path, "uk/cp1251.txt", UKRAINIAN.encode("cp1251"))

    articles, _ = corpus(tmp_path)

    assert {article_id: a.text for article_id, a in articles.items()} == {
        "ru/cp1251.txt": RUSSIAN,
        "ru/koi8.txt": RUSSIAN,
        "uk/cp1251.txt": UKRAINIAN,
    }


def test_invalid_utf8_byte_mid_file_becomes_a_replacement_character():
    data = f"{RUSSIAN}\n".encode() + b"bad \xff byte\n" + UKRAINIAN.encode()

    assert decode(data) == f"{RUSSIAN}\nbad \ufffd byte\n{UKRAINIAN}"


def test_english_utf8_with_curly_quotes_and_one_bad_byte_stays_utf8():
    text = "NATO’s chief said “no” to the ‘plan’."
    data = text.encode() + b" \xff " + "It’s final.".encode()

    assert decode(data) == f"{text} \ufffd It’s final."


@pytest.mark.parametrize("codec", ["cp1251", "koi8_r", "koi8_u"])
@pytest.mark.parametrize(
    "text",
    ["Эксперт: рубль упадёт.", "Київ чекає.", "Суд закрив справу.", "Мэр призвал не купаться."],
)
def test_a_short_legacy_cyrillic_line_is_read_in_its_own_code_page(text, codec):
    try:
        data = text.encode(codec)
    except UnicodeEncodeError:
        pytest.skip(f"{codec} has no letter for part of {text!r}")
    assert decode(data) == text


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_a_stray_nul_byte_is_dropped_and_the_text_kept(bom):
    data = bom + b"The budget passed.\x00 Critics said it was too small." + b"\x00" * 4096
    assert decode(data) == "The budget passed. Critics said it was too small."


def test_a_one_line_quote_in_a_legacy_code_page_is_read_as_cyrillic():
    assert decode("«Да», — сказал он.".encode("cp1251")) == "«Да», — сказал он."


def test_nul_bytes_that_do_not_make_utf16_text_are_binary_not_gibberish():
    # Every eighth byte a NUL: enough for the UTF-16 test, but decoded as UTF-16 this is
    # "桔⁥業楮..." (CJK code points made of ASCII pairs).
    data = b"".join(
        bytes([c, 0]) if i % 8 == 0 else bytes([c])
        for i, c in enumerate(b"The ministry said the plan is ready now, at last.")
    )
    with pytest.raises(IngestError, match="binary content, not text"):
        decode(data)


def test_bom_is_stripped_and_windows_newlines_become_unix():
    assert decode(b"\xef\xbb\xbfone\r\ntwo\rthree\n") == "one\ntwo\nthree\n"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        bytes(range(1, 32)) * 20,
    ],
)
def test_binary_content_raises(data):
    with pytest.raises(IngestError, match="binary content, not text"):
        decode(data)


def test_binary_file_named_txt_is_rejected_and_walk_continues(tmp_path):
    write(tmp_path, "a.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    write(tmp_path, "b.txt", ENGLISH)

    articles, rejects = corpus(tmp_path)

    assert rejects == {"a.txt": "binary content, not text"}
    assert list(articles) == ["b.txt"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.txt", ""),
        ("blank.txt", " \n\t\r\n"),
        ("blank.md", "---\ntitle: Only a title\n---\n\n"),
        ("blank.html", "<html><head><title>T</title><script>x()</script></head><body> </body>"),
    ],
)
def test_empty_or_whitespace_only_article_is_rejected(tmp_path, name, content):
    write(tmp_path, name, content)

    assert corpus(tmp_path) == ({}, {name: "empty article"})


def test_unsupported_suffix_is_rejected_and_hidden_paths_are_skipped(tmp_path):
    write(tmp_path, "report.pdf", b"%PDF-1.7")
    write(tmp_path, "README", "no suffix")
    write(tmp_path, ".hidden.txt", ENGLISH)
    write(tmp_path, ".git/config.txt", ENGLISH)
    write(tmp_path, "UPPER.TXT", ENGLISH)

    articles, rejects = corpus(tmp_path)

    assert list(articles) == ["UPPER.TXT"]
    assert rejects == {
        "README": "unsupported file type (no suffix)",
        "report.pdf": "unsupported file type '.pdf'",
    }


def test_symlink_out_of_input_dir_is_rejected_and_its_target_not_read(tmp_path):
    outside = write(tmp_path, "outside/secret.txt", "SECRET CONTENT")
    root = tmp_path / "input"
    write(root, "a.txt", ENGLISH)
    (root / "leak.txt").symlink_to(outside)
    (root / "leakdir").symlink_to(outside.parent, target_is_directory=True)

    articles, rejects = corpus(root)

    assert list(articles) == ["a.txt"]
    assert rejects == {
        "leak.txt": "symbolic link points outside the input directory",
        "leakdir": "symbolic link points outside the input directory",
    }


def test_symlinks_inside_input_dir_are_followed_but_each_file_read_once(tmp_path):
    write(tmp_path, "tass/a.txt", ENGLISH)
    (tmp_path / "tass/b.txt").symlink_to("a.txt")
    (tmp_path / "zz-mirror").symlink_to("tass", target_is_directory=True)
    (tmp_path / "tass/loop").symlink_to("..", target_is_directory=True)
    (tmp_path / "broken.txt").symlink_to("missing.txt")

    articles, rejects = corpus(tmp_path)

    assert list(articles) == ["tass/a.txt"]
    assert rejects == {
        "broken.txt": "broken symbolic link",
        "tass/b.txt": "same file as 'tass/a.txt', already read",
        "tass/loop": "same folder as '.', already read",
        "zz-mirror": "same folder as 'tass', already read",
    }


def test_symlink_cycle_between_two_links_is_rejected(tmp_path):
    (tmp_path / "a.txt").symlink_to("b.txt")
    (tmp_path / "b.txt").symlink_to("a.txt")

    assert corpus(tmp_path) == (
        {},
        {"a.txt": "symbolic link loop", "b.txt": "symbolic link loop"},
    )


@pytest.mark.parametrize(
    "relative",
    [
        "my folder/news article.txt",
        "ТАСС/статья о НАТО.txt",
        "-rf.txt",
        "--output=x.md",
        "=cmd.txt",
        "a#b/c d.html",
    ],
)
def test_awkward_file_names_are_read_with_their_relative_path_as_id(tmp_path, relative):
    write(tmp_path, relative, ENGLISH)

    articles, rejects = corpus(tmp_path)

    assert rejects == {}
    assert list(articles) == [relative]
    assert articles[relative].text == ENGLISH


def test_source_is_the_first_folder_else_the_file_stem(tmp_path):
    write(tmp_path, "tass/2024/11/a.txt", ENGLISH)
    write(tmp_path, "kyivindependent/b.html", f"<p>{ENGLISH}</p>")
    write(tmp_path, "loose-page.txt", ENGLISH)

    articles, _ = corpus(tmp_path)

    assert {article_id: a.source for article_id, a in articles.items()} == {
        "tass/2024/11/a.txt": "tass",
        "kyivindependent/b.html": "kyivindependent",
        "loose-page.txt": "loose-page",
    }


def test_files_come_in_sorted_path_order_every_time(tmp_path):
    for relative in ["b/z.txt", "a.txt", "b/a.txt", "c.md", "B.txt", "b/sub/m.txt"]:
        write(tmp_path, relative, ENGLISH)

    first = [record.id for record in read_corpus(tmp_path)]

    assert first == ["B.txt", "a.txt", "b/a.txt", "b/sub/m.txt", "b/z.txt", "c.md"]
    assert [record.id for record in read_corpus(tmp_path)] == first


def test_file_over_the_size_limit_is_rejected_with_size_and_limit(tmp_path):
    write(tmp_path, "big.txt", "x" * 101)
    write(tmp_path, "small.txt", "x" * 100)

    articles, rejects = corpus(tmp_path, max_file_bytes=100)

    assert list(articles) == ["small.txt"]
    assert rejects == {"big.txt": "file is 101 bytes, over the limit of 100 bytes"}


def test_file_that_cannot_be_opened_is_rejected_and_walk_continues(tmp_path, monkeypatch):
    write(tmp_path, "a.txt", ENGLISH)
    write(tmp_path, "b.txt", ENGLISH)
    real_open = os.open

    def deny_a(path, *args, **kwargs):
        if Path(path).name == "a.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny_a)

    articles, rejects = corpus(tmp_path)

    assert list(articles) == ["b.txt"]
    assert rejects == {"a.txt": "cannot read file: Permission denied"}


def test_named_pipe_is_rejected_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.txt")

    assert corpus(tmp_path) == ({}, {"pipe.txt": "not a regular file"})


def test_seed_pages_are_five_articles_named_by_file(seeds_dir):
    records = list(read_corpus(seeds_dir))

    assert all(isinstance(record, Article) for record in records)
    assert [record.id for record in records] == sorted(
        path.name for path in seeds_dir.glob("*.txt")
    )
    assert len(records) == 5
    assert all(record.source == Path(record.id).stem for record in records)
    assert records[3].text.startswith("Наращивание военного сотрудничества между Россией и КНДР")
    assert "Росія та КНДР підписали угоду" in records[2].text


def test_missing_input_dir_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(read_corpus(tmp_path / "absent"))


@pytest.mark.parametrize("swapped", ["file", "folder"])
def test_a_path_swapped_for_a_link_after_the_check_is_not_read(tmp_path, monkeypatch, swapped):
    """The check-then-open race: the walk checks where a path leads, then the file is opened.
    Here the file, or a folder above it, is a link out of the input that the walk's check did
    not see (it is made to see the paths as they were before a swap); what is opened is
    checked again, so the secret is never read."""
    write(tmp_path, "outside/secret.txt", "A secret that must never be read.")
    root = tmp_path / "in"
    write(root, "a.txt", "The river is calm today.")
    if swapped == "file":
        (root / "b.txt").symlink_to(tmp_path / "outside" / "secret.txt")
        unseen = {root / "b.txt"}
    else:
        (root / "sub").symlink_to(tmp_path / "outside", target_is_directory=True)
        unseen = {root / "sub", root / "sub" / "secret.txt"}
    real_resolve = Path.resolve

    def resolve_as_before_the_swap(self, strict=False):
        return self if self in unseen else real_resolve(self, strict=strict)

    monkeypatch.setattr(Path, "resolve", resolve_as_before_the_swap)
    articles, rejects = corpus(root)
    assert list(articles) == ["a.txt"]
    reason = {
        "file": ("b.txt", "changed into a symbolic link while read"),
        "folder": ("sub/secret.txt", "symbolic link points outside the input directory"),
    }[swapped]
    assert rejects == dict([reason])


def test_a_page_far_over_the_article_limit_is_refused_before_it_is_parsed(tmp_path):
    write(tmp_path, "big.md", "*a " * 70)  # 210 characters: over 2 x 100
    write(tmp_path, "big.html", "<div " * 1001)  # 5,005 characters: over 50 x 100
    write(tmp_path, "ok.md", "The river is calm today. " * 4)  # 100 characters
    articles, rejects = corpus(tmp_path, max_article_chars=100)
    assert list(articles) == ["ok.md"]
    assert rejects == {
        "big.md": "page is 210 characters, over 2 times the limit of 100 characters for one "
        "article; not parsed",
        "big.html": "page is 5005 characters, over 50 times the limit of 100 characters for "
        "one article; not parsed",
    }


def test_real_web_pages_keep_their_main_text_and_drop_their_furniture():
    """../shared/corpus/web-pages: 150 real pages with snippets to keep and to drop. The page's
    whole visible text got 2 fully right, trafilatura's defaults 95 (measured side by side in
    python -m benchmarks.extraction)."""
    if not extraction_bench.WEB_PAGES.is_dir():
        pytest.skip(f"real web pages not found at {extraction_bench.WEB_PAGES}")
    pages = extraction_bench.load_pages()
    ours = extraction_bench.score("parallax", extraction_bench.EXTRACTORS["Parallax reader"], pages)
    assert len(ours.right) >= 100, sorted(ours.wrong)
