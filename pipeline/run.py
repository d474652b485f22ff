"""The one sequence of stages.

ingest → clean → segment → langid → translate → embed → stories → align → export.

Both callers run this same sequence: the CLI calls each step directly (with progress bars), the
Prefect flow passes a `step` hook that runs each step as a task.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import logging
import os
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import clean, segment
from pipeline.align import LINK_CACHE_FORMAT, align, background_sentences
from pipeline.boilerplate import mark_boilerplate
from pipeline.config import Config
from pipeline.corpus import Corpus
from pipeline.embed import Embedder, embed_texts
from pipeline.export import (
    RUN_FOLDER_MODE,
    article_languages,
    previous_run_info,
    previous_statements,
    previous_stories,
    write_run,
)
from pipeline.ingest import read_corpus
from pipeline.langid import label_sentences
from pipeline.normalise import normalise_text
from pipeline.records import Alignment, Article, MissingModel, Reject, Sentence, text_hash
from pipeline.statements import (
    Statement,
    UniqueSentence,
    group_statements,
    name_statements,
    unique_sentences,
)
from pipeline.store import Store
from pipeline.stories import Story, group_stories, parse_published
from pipeline.translate import (
    load_translators,
    missing_models,
    packages_dir,
    translate_sentences,
)
from pipeline.translate.memory import TranslationMemory

log = logging.getLogger(__name__)

Step = Callable[..., Any]  # step(name, function, *args) -> function(*args)
Progress = Callable[[str, int], Callable[[int], None]]  # progress(label, total) -> advance(n)

LIBRARIES = ("argostranslate", "ctranslate2", "sentence-transformers", "torch", "faiss-cpu",
             "lingua-language-detector")  # fmt: skip


LOCK_FILE = ".parallax.lock"


class RunError(RuntimeError):
    """The run cannot complete; the message is one line for the user."""


class PathError(RunError):
    """An input or output folder given to the run cannot be used; nothing was changed."""


def call_directly(name: str, function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


@dataclass(frozen=True)
class RunResult:
    """What a run wrote. `run_dir` is None when no article was read: then nothing was written
    and OUTPUT/latest still points at the previous run."""

    run_id: str
    run_dir: Path | None
    counts: dict[str, Any]
    missing: list[MissingModel]
    seconds: dict[str, float]
    alignments: list[Alignment]
    rejects: list[Reject]


def ingest(input_dir: Path, max_file_bytes: int) -> tuple[list[Article], list[Reject]]:
    articles, rejects = [], []
    for item in read_corpus(input_dir, max_file_bytes=max_file_bytes):
        (articles if isinstance(item, Article) else rejects).append(item)
    return articles, rejects


def split_articles(articles: list[Article], mode: str) -> tuple[list[Sentence], list[Reject]]:
    """Clean and segment each article. An article whose rules fail is rejected on its own."""
    splitter = segment.split_lines if mode == "lines" else segment.split_sentences
    sentences, failed = [], []
    for article in articles:
        try:
            # Cut from the normalised text: the sentences match a memory entry, an abbreviation
            # or another source's copy however the page spelled its invisible characters.
            parts = splitter(clean.clean_text(normalise_text(article.text)).text)
        except Exception as error:  # one bad article must not stop the others
            log.exception("segmenting %s failed", article.id)
            failed.append(Reject(article.id, f"segmentation failed: {error!r}"))
            continue
        sentences += [
            Sentence(article.id, article.source, position, text)
            for position, text in enumerate(parts)
        ]
    return sentences, failed


def code_digest(*modules: str) -> str:
    """A digest of these pipeline modules' source: cached results made by other code expire."""
    digest = hashlib.sha256()
    for name in modules:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def segmentation_key(config: Config) -> str:
    """What a cached segmentation depends on: mode, languages, and the code of the rules."""
    rules = code_digest("normalise.py", "clean.py", "segment.py", "langid.py")
    return (
        f"mode={config.segment.mode};langs={','.join(config.langid.languages)};"
        f"rules={rules[:16]};lingua={metadata.version('lingua-language-detector')}"
    )


def split_with_cache(
    articles: list[Article], config: Config, store: Store, timed: Step
) -> tuple[list[Sentence], list[Reject], int]:
    """Sentences of every article, and how many texts were segmented anew.

    Only articles whose text the store has not seen go through segmentation and language id;
    their results are stored for the next run. Empty or failing articles are rejected.
    """
    key = segmentation_key(config)
    segments = store.get_segments(key, [a.content_hash for a in articles])
    fresh = list({a.content_hash: a for a in articles if a.content_hash not in segments}.values())
    new_sentences, failed = [], []
    if fresh:  # a rerun over known texts loads no language models at all
        new_sentences, failed = timed("segment", split_articles, fresh, config.segment.mode)
        new_sentences = timed("langid", label_sentences, new_sentences, config.langid.languages)

    pairs_of: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for sentence in new_sentences:
        pairs_of[sentence.article_id].append((sentence.text, sentence.lang))
    reason_of = {reject.input: reject.reason for reject in failed}
    fresh_segments = {a.content_hash: pairs_of[a.id] for a in fresh if a.id not in reason_of}
    store.put_segments(key, fresh_segments.items())
    segments.update(fresh_segments)
    failure_of = {a.content_hash: reason_of[a.id] for a in fresh if a.id in reason_of}

    sentences, rejects = [], []
    for article in articles:
        pairs = segments.get(article.content_hash)
        if pairs is None:
            rejects.append(Reject(article.id, failure_of[article.content_hash]))
            continue
        if not pairs:
            rejects.append(Reject(article.id, "no sentences left after removing page noise"))
        sentences += [
            Sentence(article.id, article.source, position, text, lang=lang)
            for position, (text, lang) in enumerate(pairs)
        ]
    return sentences, rejects, len(fresh)


@dataclass(frozen=True)
class Embedded:
    sentences: list[Sentence]  # those with an English side, in order
    vectors: np.ndarray
    encoded: int  # texts newly embedded this run


@dataclass(frozen=True)
class Aligned:
    alignments: list[Alignment]
    statements: list[Statement]
    unique: list[UniqueSentence]


def embed(
    sentences: list[Sentence], embedder: Embedder, store: Store, progress: Progress | None
) -> Embedded:
    """Vectors for every sentence that has an English side and is not boilerplate."""
    alignable = [s for s in sentences if s.english and not s.boilerplate]
    vectors, encoded = embed_texts([s.english for s in alignable], embedder, store, progress)
    return Embedded(alignable, vectors, encoded)


def align_options(config: Config, embedder: Embedder) -> str:
    """What the links depend on besides the sentences: align options, the embedding model and
    the margin's background sentences."""
    background = text_hash("\n".join(background_sentences()))
    return text_hash(
        f"{LINK_CACHE_FORMAT}|{sorted(config.align.__dict__.items())}|{embedder.cache_key}"
        f"|{background}"
    )


# The modules whose code decides alignments, statements and the tables written.
RESULT_MODULES = (
    "stories.py", "align.py", "index.py", "spans.py", "relation.py", "statements.py",
    "export.py",
)  # fmt: skip


def result_key(
    sentences: list[Sentence],
    rejects: list[Reject],
    options: str,
    articles: list[Article] = (),
    stories: list[Story] = (),
) -> str:
    """Everything the output tables depend on: articles' metadata, sentences, rejects, stories,
    options, models and code.

    Two runs with the same key write the same tables, so a rerun copies them.
    """
    digest = hashlib.sha256(f"{options}|{code_digest(*RESULT_MODULES)}".encode())
    for a in sorted(articles, key=lambda a: a.id):
        digest.update(repr((a.id, a.source, a.url, a.title, a.published)).encode())
    for s in sentences:
        fields = (
            s.article_id, s.source, s.position, s.lang, s.text, s.english, s.english_origin,
            s.boilerplate,
        )  # fmt: skip
        digest.update(repr(fields).encode())
    for reject in rejects:
        digest.update(repr((reject.input, reject.reason)).encode())
    for story in stories:
        digest.update(repr(story).encode())
    return digest.hexdigest()


def align_and_group(
    embedded: Embedded,
    untranslated: list[Sentence],
    stories: list[Story],
    published: dict[str, datetime | None],
    embedder: Embedder,
    store: Store,
    config: Config,
    options: str,
    output_dir: Path,
) -> Aligned:
    """Within each story: links between articles, statement groups and the sentences no other
    source carries (each with how many `untranslated` sentences of the story it could not be
    compared with). Statements are in story order, each keeping its id from the latest run in
    `output_dir`, or named after its first carrier (name_statements; `published`: article id
    -> publication date, None when undated).

    `options` (align_options()) keys the link cache.
    """

    def encode(texts: list[str]) -> np.ndarray:
        return embed_texts(texts, embedder, store)[0]

    story_of = {article: story.id for story in stories for article in story.articles}
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, sentence in enumerate(embedded.sentences):
        rows_of[story_of[sentence.article_id]].append(row)
    # A sentence without an English side counts as unchecked in its article's story; one of
    # an article with no English side at all, which could not be placed, in every story.
    untranslated_of: dict[str, list[Sentence]] = defaultdict(list)
    unplaced = []
    for sentence in untranslated:
        story = story_of[sentence.article_id]
        (untranslated_of[story] if rows_of[story] else unplaced).append(sentence)
    background = encode(background_sentences())
    alignments, statements, unique = [], [], []
    for story in stories:
        rows = rows_of[story.id]
        if not rows:
            continue
        sentences = [embedded.sentences[r] for r in rows]
        vectors = embedded.vectors[rows]
        links, groups = [], []
        if len(story.articles) > 1:
            links = align(sentences, vectors, config.align, encode, store, options, background)
            groups = group_statements(sentences, vectors, links, config.align.group_min_cosine)
        alignments += links
        statements += [dataclasses.replace(g, story=story.id) for g in groups]
        unique += unique_sentences(sentences, groups, links, untranslated_of[story.id] + unplaced)
    statements = name_statements(statements, published, previous_statements(output_dir))
    return Aligned(alignments, statements, unique)


def story_fingerprints(stories: list[Story], articles: list[Article]) -> dict[str, str]:
    """Each story's fingerprint: a hash of its articles' ids, texts and publication dates (which
    decide its membership and provenance), so the next run can tell which stories changed."""
    content = {a.id: f"{a.content_hash}\x1f{a.published}" for a in articles}
    return {
        story.id: text_hash("\n".join(f"{a}\x1f{content.get(a, '')}" for a in story.articles))
        for story in stories
    }


def articles_by_language(sentences: list[Sentence]) -> dict[str, int]:
    """Articles counted under the language most of their sentences are in."""
    return dict(sorted(Counter(article_languages(sentences).values()).items()))


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@contextlib.contextmanager
def output_lock(output_dir: Path) -> Iterator[None]:
    """One run at a time per output folder; a second waits for the first to finish.

    The lock file is opened without following a link and without truncating it, so a link
    planted at its name cannot make a run empty another file: such a lock is refused.
    """
    output_dir.mkdir(mode=RUN_FOLDER_MODE, parents=True, exist_ok=True)
    path = output_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise PathError(
                f"{path} is a symbolic link, not the run's lock file; remove it and run again"
            ) from None
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another run is writing to %s; waiting for it to finish", output_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def check_folders(input_dir: Path, output_dir: Path) -> None:
    """Raise PathError, naming the folder, unless `input_dir` is a readable folder and
    `output_dir` is a writable folder or can be created; creates nothing."""
    if not input_dir.exists():
        raise PathError(f"input folder not found: {input_dir}")
    if not input_dir.is_dir():
        raise PathError(f"input {input_dir} is a file, not a folder of articles")
    if not os.access(input_dir, os.R_OK | os.X_OK):
        raise PathError(f"input folder {input_dir} is not readable")
    existing = output_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        if existing == output_dir:
            raise PathError(f"output folder {output_dir} is a file")
        raise PathError(f"output folder {output_dir} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == output_dir else f" (cannot be created in {existing})"
        raise PathError(f"output folder {output_dir} is not writable{where}")


def run(
    input_dir: Path, config: Config, step: Step = call_directly, progress: Progress | None = None
) -> RunResult:
    """Run every stage over `input_dir` and write OUTPUT/<run-id>/.

    Raises PathError for an unusable input or output folder, TranslationMemoryError for a
    memory that cannot be read (both before any work), RunError when the run cannot complete.
    When no article is read (an empty folder, or only rejected files) nothing is written: the
    result's run_dir is None and its rejects say why.
    """
    output_dir = config.paths.output_dir
    check_folders(input_dir, output_dir)
    # Inputs named on the command line are checked before any work: a bad memory fails now,
    # not after segmentation.
    memory = TranslationMemory.from_files(list(config.translate.tm_files))
    seconds: dict[str, float] = {}

    def timed(name: str, function: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        result = step(name, function, *args)
        seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - start, 3)
        log.info("%s finished in %.2f s", name, seconds[name])
        return result

    articles, rejects = timed("ingest", ingest, input_dir, config.ingest.max_file_bytes)
    if not articles and not (config.corpus.accumulate and Corpus.exists(output_dir)):
        return _nothing_read(rejects, seconds)
    with contextlib.ExitStack() as held:
        held.enter_context(output_lock(output_dir))
        store = held.enter_context(contextlib.closing(Store(config.paths.cache_dir)))
        started = datetime.now(UTC)  # once this run holds the output folder
        corpus, corpus_counts = None, {}
        if config.corpus.accumulate:
            # What this run adds to the registry is committed only with its outputs: an input
            # that stalls or kills a run leaves no trace, and is not read again once removed.
            corpus = held.enter_context(contextlib.closing(Corpus(output_dir)))
            change = corpus.update(articles)
            articles = corpus.articles()
            corpus_counts = {f"articles_{k}": v for k, v in dataclasses.asdict(change).items()}
            if not articles:
                return _nothing_read(rejects, seconds)
        sentences, unsplit, segmented = split_with_cache(articles, config, store, timed)
        rejects += unsplit
        sentences = mark_boilerplate(sentences, config.boilerplate)

        languages = {s.lang for s in sentences}
        translators = load_translators(config.translate, languages)
        missing = missing_models(sentences, memory, translators, config.translate.target)
        if missing and config.translate.on_missing_model == "fail":
            raise RunError(_missing_message(missing, packages_dir(config.translate)))

        sentences, report = timed(
            "translate",
            translate_sentences,
            sentences,
            memory,
            translators,
            store,
            config.translate.target,
            progress,
        )
        embedder = Embedder(config.embed)
        embedded = timed("embed", embed, sentences, embedder, store, progress)
        options = align_options(config, embedder)
        languages = article_languages(sentences)
        stories, story_changes = timed(
            "stories",
            group_stories,
            [a for a in articles if a.id in languages],  # rejected ones have no sentences
            embedded.sentences,
            embedded.vectors,
            config.stories,
            languages,
            previous_stories(output_dir),
        )
        fingerprints = story_fingerprints(stories, articles)
        earlier = previous_run_info(output_dir).get("story_fingerprints") or {}
        changed_stories = [i for i, print_ in fingerprints.items() if earlier.get(i) != print_]
        untranslated = [s for s in sentences if not s.english and not s.boilerplate]
        aligned = timed(
            "align",
            align_and_group,
            embedded,
            untranslated,
            stories,
            {a.id: parse_published(a.published) for a in articles},
            embedder,
            store,
            config,
            options,
            output_dir,
        )
        alignments = aligned.alignments
        counts = {
            "articles": len(articles),
            **corpus_counts,
            "articles_segmented": segmented,
            "rejects": len(rejects),
            "articles_by_lang": articles_by_language(sentences),
            "sentences": len(sentences),
            "sentences_by_lang": dict(sorted(Counter(s.lang for s in sentences).items())),
            "sentences_by_origin": dict(sorted(report.by_origin.items())),
            "boilerplate_sentences": sum(1 for s in sentences if s.boilerplate),
            "translated_new": report.mt_new,
            "translated_cached": report.mt_cached,
            "embedded_new": embedded.encoded,
            "stories": len(stories),
            "stories_changed": len(changed_stories),
            "stories_with_several_sources": sum(1 for story in stories if len(story.sources) > 1),
            "alignments": len(alignments),
            "alignments_disagree": sum(1 for x in alignments if x.relation != "same"),
            "statements": len(aligned.statements),
            "unique_sentences": len(aligned.unique),
            # Unique sentences that could not be compared with every other source's sentences.
            "unique_unchecked": sum(1 for u in aligned.unique if u.unchecked),
            "untranslated_sentences": len(untranslated),
        }
        run_id = new_run_id()
        run_info = {
            "run_id": run_id,
            "started": started.isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            "input_dir": str(input_dir),
            "config": config.to_dict(),
            "models": {
                "translation": report.packages,
                "embedding": embedder.cache_key,
                "libraries": {name: metadata.version(name) for name in LIBRARIES},
            },
            "counts": counts,
            "missing_models": [dataclasses.asdict(m) for m in report.missing],
            "translation_memory": [
                {"file": f.file, "entries": f.entries, "skipped": dict(sorted(f.skipped.items()))}
                for f in memory.files
            ],
            "story_changes": [dataclasses.asdict(change) for change in story_changes],
            # Stories that are new, or whose articles or their texts differ from the last run.
            "stories_changed": changed_stories,
            "story_fingerprints": fingerprints,
            "seconds": seconds,
            "result_key": result_key(sentences, rejects, options, articles, stories),
        }
        run_dir = timed(
            "export",
            write_run,
            output_dir,
            run_id,
            sentences,
            aligned.alignments,
            aligned.statements,
            aligned.unique,
            rejects,
            run_info,
            articles,
            stories,
        )
        if corpus is not None:
            corpus.commit()
    return RunResult(run_id, run_dir, counts, report.missing, seconds, alignments, rejects)


def _nothing_read(rejects: list[Reject], seconds: dict[str, float]) -> RunResult:
    counts = {"articles": 0, "rejects": len(rejects)}
    return RunResult("", None, counts, [], seconds, [], rejects)


def _missing_message(missing: list[MissingModel], folder: Path) -> str:
    parts = [f"{m.lang}: {m.sentences} sentences (run `{m.install_command}`)" for m in missing]
    return f"no translation model installed in {folder} for " + "; ".join(parts)
