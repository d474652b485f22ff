"""A corpus of many stories over time, each article's story known: for benchmarks/stories.py.

Each story is one event at one place (PLACES of benchmarks/synthetic_corpus.py), starting on a
day of the period. Its articles come from outlets in en, ru and uk within three days of the
start. An article carries most of the story's statements, in its own order and with its own
time words (a paraphrase as far as the word lists allow), and a few of its own at the same
place; some also mention another place in passing, as news does. Two stories at one place
within a week are the hard case, as in real news: nothing but their statements tells them
apart.

Articles go to one JSONL file per outlet (id, source, title, published, text); the English of
every Russian and Ukrainian sentence goes to a translation memory. Same seed, same files.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.synthetic_corpus import OUTLETS, PLACES, WHEN, Statement, _statement

STATEMENTS_PER_STORY = 10
SHARED = 6  # of the story's statements, in each of its articles
OWN = 3  # statements of the article's own, at the story's place
ASIDE_SHARE = 0.3  # articles that also mention another place
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Story:
    place: int
    start: datetime
    statements: tuple[Statement, ...]


def _at(place: int, rng: random.Random) -> Statement:
    return replace(_statement(rng), place=place)


def stories(count: int, days: int, seed: int = 0) -> list[Story]:
    """`count` stories spread over `days` days; story i depends only on (seed, i)."""
    made = []
    for number in range(count):
        rng = random.Random(f"{seed}-story-{number}")
        place = rng.randrange(len(PLACES["en"]))
        start = START + timedelta(days=rng.uniform(0, days))
        made.append(
            Story(place, start, tuple(_at(place, rng) for _ in range(STATEMENTS_PER_STORY)))
        )
    return made


def write_story_corpus(
    folder: Path, articles: int, per_story: int = 20, days: int = 365, seed: int = 0
) -> tuple[dict[str, int], Path]:
    """Write `articles` articles about articles // per_story stories under `folder`/<outlet>/
    feed.jsonl; returns each article's id (as `parallax run` names it) with its story, and the
    translation memory (TSV) of the ru and uk sentences."""
    plan = stories(max(1, articles // per_story), days, seed)
    langs = sorted(OUTLETS)
    records: dict[str, list[dict]] = {}
    story_of: dict[str, int] = {}
    memory: dict[str, str] = {}
    for number in range(articles):
        rng = random.Random(f"{seed}-story-article-{number}")
        which = rng.randrange(len(plan))
        story = plan[which]
        lang = langs[number % len(langs)]
        outlet = rng.choice(OUTLETS[lang])
        statements = [replace(s, when=rng.randrange(len(WHEN["en"])))
                      for s in rng.sample(story.statements, SHARED)]  # fmt: skip
        statements += [_at(story.place, rng) for _ in range(OWN)]
        if rng.random() < ASIDE_SHARE:
            statements.append(_statement(rng))  # another place, in passing
        rng.shuffle(statements)
        lines = [" ".join(s.text(lang) for s in statements[i : i + 3])
                 for i in range(0, len(statements), 3)]  # fmt: skip
        if lang != "en":
            memory.update({s.text(lang): s.text("en") for s in statements})
        record_id = f"a{number:06d}"
        published = story.start + timedelta(hours=rng.uniform(0, 72))
        records.setdefault(outlet, []).append({
            "id": record_id, "source": outlet, "text": "\n".join(lines),
            "title": statements[0].text(lang), "published": published.isoformat(timespec="minutes"),
        })  # fmt: skip
        story_of[f"{outlet}/feed.jsonl#{record_id}"] = which
    for outlet, rows in records.items():
        (folder / outlet).mkdir(parents=True, exist_ok=True)
        with (folder / outlet / "feed.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    tm = folder.parent / f"{folder.name}-tm.tsv"
    tm.write_text("".join(f"{text}\t{english}\n" for text, english in memory.items()), "utf-8")
    return story_of, tm
