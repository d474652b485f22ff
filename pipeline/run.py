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
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import clean, segment
from pipeline.align import LINK_CACHE_FORMAT, align_stories
from pipeline.background import background_sentences
from pipeline.boilerplate import mark_in_corpus
from pipeline.chunks import MapChunks
from pipeline.config import Config
from pipeline.corpus import REGISTRY, ArticleState, Corpus, CorpusError
from pipeline.embed import Embedder, embed_texts
from pipeline.embed_server import ServedConfidences
from pipeline.export import (
    RUN_FOLDER_MODE,
    KeptRows,
    RunTables,
    article_languages,
    kept_rows,
    previous_run_info,
    previous_statements,
    previous_stories,
    sentence_rows,
    story_counts,
    write_run,
)
from pipeline.ingest import read_corpus
from pipeline.langid import label_sentences, lingua_confidences
from pipeline.normalise import normalise_text
from pipeline.records import Alignment, Article, MissingModel, Reject, Sentence, text_hash
from pipeline.report import write_report
from pipeline.statements import (
    Statement,
    UniqueSentence,
    group_statements,
    name_statements,
    unique_sentences,
)
from pipeline.store import Store
from pipeline.stories import (
    Story,
    StoryChange,
    article_features,
    group_stories,
    parse_published,
    regroup_stories,
    story_links,
)
from pipeline.translate import (
    TranslateReport,
    load_translators,
    missing_models,
    packages_dir,
    translate_sentences,
)
from pipeline.translate.memory import TranslationMemory

log = logging.getLogger(__name__)

Step = Callable[..., Any]  # step(name, function, *args) -> function(*args)
Progress = Callable[[str, int], Callable[[int], None]]  # progress(label, total) -> advance(n)

LIBRARIES = ("argostranslate", "ctranslate2", "sentence-transformers", "transformers", "torch",
             "openvino", "faiss-cpu", "lingua-language-detector")  # fmt: skip


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
        # The embedding server holds lingua's models loaded too: a run that brings a few
        # articles would spend 1 to 1.5 s loading them.
        confidences = (
            ServedConfidences(config.embed.server_socket)
            if config.embed.server_socket is not None
            else lingua_confidences
        )
        new_sentences = timed(
            "langid", label_sentences, new_sentences, config.langid.languages, confidences
        )

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
    encoded: int  # sentences' texts newly embedded this run
    # The vectors of background_sentences(), the ratio margin's fixed neighbourhood: texts known
    # before alignment, so embedded by this stage (on a cold cache) and not by the align stage.
    background: np.ndarray


@dataclass(frozen=True)
class Aligned:
    alignments: list[Alignment]
    statements: list[Statement]
    unique: list[UniqueSentence]
    # The align stage embeds joined sentences (merges, near-translation beads): a model's work
    # inside the stage, reported apart from its own.
    embedded_new: int = 0
    embed_seconds: float = 0.0


def embed(
    sentences: list[Sentence],
    embedder: Embedder,
    store: Store,
    progress: Progress | None,
    map_chunks: MapChunks | None = None,
) -> Embedded:
    """Vectors for every sentence that has an English side and is not boilerplate, and for
    the margin's background sentences."""
    alignable = [s for s in sentences if s.english and not s.boilerplate]
    texts = [s.english for s in alignable]
    vectors, encoded = embed_texts(texts, embedder, store, progress, map_chunks)
    background, _ = embed_texts(background_sentences(), embedder, store, map_chunks=map_chunks)
    return Embedded(alignable, vectors, encoded, background)


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


def state_key(
    config: Config,
    memory: TranslationMemory,
    translators: dict[str, Any],
    embedder: Embedder,
) -> str:
    """What an article's state (pipeline/corpus.py) depends on besides its text: segmentation,
    boilerplate and stories options, the translation memory and models, the embedding model,
    and the code that makes them. State made with another key is made anew."""
    memory_digest = hashlib.sha256()
    for source, english in sorted(memory.entries.items()):
        memory_digest.update(f"{source}\t{english}\n".encode())
    models = sorted((lang, t.cache_key) for lang, t in translators.items())
    code = code_digest("boilerplate.py", "stories.py", "relation.py", "translate/__init__.py")
    return text_hash(
        f"{segmentation_key(config)}|{sorted(config.boilerplate.__dict__.items())}|"
        f"{sorted(config.stories.__dict__.items())}|{config.translate.target}|"
        f"{memory_digest.hexdigest()}|{models}|{embedder.cache_key}|{code}"
    )


def tables_key(state: str, options: str, unplaced: Mapping[str, str]) -> str:
    """What a story's rows depend on besides its articles: the articles' state key, the align
    options, the code that writes the tables, and the articles no story could hold (their
    untranslated sentences count as unchecked in every story: `unplaced`, id -> digest)."""
    return text_hash(f"{state}|{options}|{code_digest(*RESULT_MODULES)}|{sorted(unplaced.items())}")


def align_and_group(
    embedded: Embedded,
    untranslated: list[Sentence],
    stories: list[Story],
    published: dict[str, datetime | None],
    embedder: Embedder,
    store: Store,
    config: Config,
    options: str,
    previous: Mapping[tuple[str, str], str],
    taken: frozenset[str] = frozenset(),
) -> Aligned:
    """Within each story: links between articles, statement groups and the sentences no other
    source carries (each with how many `untranslated` sentences of the story it could not be
    compared with). Statements are in story order, each keeping its id from the latest run
    (`previous`: previous_statements()), or named after its first carrier (name_statements;
    `published`: article id -> publication date, None when undated), never one of the ids
    `taken` by other stories.

    `options` (align_options()) keys the link cache.
    """

    embedding = {"new": 0, "seconds": 0.0}

    def encode(texts: list[str]) -> np.ndarray:
        start = time.perf_counter()
        vectors, new = embed_texts(texts, embedder, store)
        embedding["new"] += new
        embedding["seconds"] += time.perf_counter() - start
        return vectors

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
    told = [story for story in stories if rows_of[story.id]]
    aligned = [story for story in told if len(story.articles) > 1]

    def sentences_and_vectors(story: Story) -> tuple[list[Sentence], np.ndarray]:
        rows = rows_of[story.id]
        return [embedded.sentences[r] for r in rows], embedded.vectors[rows]

    # All stories in one call, so that their joined sentences share model calls.
    found = align_stories(
        map(sentences_and_vectors, aligned), config.align, encode, store, options,
        embedded.background,
    )  # fmt: skip
    links_of = dict(zip([story.id for story in aligned], found, strict=True))
    alignments, statements, unique = [], [], []
    for story in told:
        sentences, vectors = sentences_and_vectors(story)
        links = links_of.get(story.id, [])
        groups = []
        if story.id in links_of:
            groups = group_statements(sentences, vectors, links, config.align.group_min_cosine)
        alignments += links
        statements += [dataclasses.replace(g, story=story.id) for g in groups]
        unique += unique_sentences(sentences, groups, links, untranslated_of[story.id] + unplaced)
    statements = name_statements(statements, published, previous, set(taken))
    return Aligned(alignments, statements, unique, embedding["new"], embedding["seconds"])


def story_fingerprints(
    stories: list[Story],
    articles: list[Article],
    digests: Mapping[str, str] | None = None,
    stated: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Each story's fingerprint: a hash of its articles' ids, sources, dates (`stated`, as
    provenance_dates() shows them; else as published) and texts, and (`digests`, article id ->
    sentences digest) their sentences as the run made them, which decide its rows; the next run
    re-does only the stories whose fingerprint changed."""
    digests, stated = digests or {}, stated or {}
    content = {
        a.id: f"{a.content_hash}\x1f{stated.get(a.id, a.published)}\x1f{a.source}"
        f"\x1f{digests.get(a.id, '')}"
        for a in articles
    }
    return {
        story.id: text_hash("\n".join(f"{a}\x1f{content.get(a, '')}" for a in story.articles))
        for story in stories
    }


def provenance_dates(
    articles: list[Article], first_seen: Mapping[str, str]
) -> tuple[dict[str, datetime | None], dict[str, str]]:
    """When each article came out, for provenance (who carried a statement first, and how
    much later the others): its publication date; for an undated one, when the corpus
    registry first read it (`first_seen`, ISO 8601; accumulate mode only), which it cannot
    have come out after. Returns the dates (None: unknown) and how the tables show each: the
    date as the article states it, or "<first seen> (first seen)"."""
    dates: dict[str, datetime | None] = {}
    stated: dict[str, str] = {}
    for article in articles:
        dates[article.id] = parse_published(article.published)
        stated[article.id] = article.published
        seen = first_seen.get(article.id, "")
        if dates[article.id] is None and seen:
            dates[article.id] = parse_published(seen)
            stated[article.id] = f"{seen} (first seen)"
    return dates, stated


def sentences_digest(sentences: list[Sentence]) -> str:
    """A hash of one article's sentences as sentences.csv writes them."""
    return text_hash(repr(list(sentence_rows(sentences))))


def sentence_stats(sentences: list[Sentence]) -> dict[str, dict[str, int]]:
    """One article's sentences counted, for run.json's counts without reading them again."""
    return {
        "by_lang": dict(Counter(s.lang for s in sentences)),
        "by_origin": dict(Counter(s.english_origin for s in sentences)),
        "counts": {
            "sentences": len(sentences),
            "boilerplate": sum(s.boilerplate for s in sentences),
            "untranslated": sum(1 for s in sentences if not s.english and not s.boilerplate),
        },
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


def check_registry(output_dir: Path) -> None:
    """Raise CorpusError when `output_dir`'s latest run accumulated articles but its registry
    is gone: a new one would silently drop every article no longer in the input folder."""
    if Corpus.exists(output_dir):
        return
    info = previous_run_info(output_dir)
    if info.get("config", {}).get("corpus", {}).get("accumulate") and info.get("counts", {}).get(
        "articles"
    ):
        raise CorpusError(
            f"corpus registry {output_dir / REGISTRY} is missing, but the latest run "
            f"({info.get('run_id', '?')}) covered {info['counts']['articles']} articles read "
            "into this output folder; a new registry would drop those no longer in the input "
            f"folder: restore it from a backup, or move {output_dir / 'latest'} aside to "
            "start a new corpus"
        )


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


@dataclass(frozen=True)
class Prepared:
    """Articles made ready to place and align: every sentence with its English side and
    boilerplate mark, and the vectors of those embedded."""

    sentences: list[Sentence]
    embedded: Embedded
    rejects: list[Reject]
    others: set[str]  # articles whose boilerplate marks changed with these (mark_in_corpus)
    segmented: int
    report: TranslateReport


def prepare(
    articles: list[Article],
    corpus: Corpus,
    memory: TranslationMemory,
    translators: dict[str, Any],
    embedder: Embedder,
    store: Store,
    config: Config,
    timed: Step,
    progress: Progress | None,
    map_chunks: MapChunks | None = None,
) -> Prepared:
    """Segment, mark, translate and embed `articles`, from the caches where they can; the
    models' chunks run where `map_chunks` sends them (pipeline/chunks.py; None: here).

    Raises RunError when a language has no model and `translate.on_missing_model` is "fail".
    """
    sentences, rejects, segmented = split_with_cache(articles, config, store, timed)
    sources = {a.id: a.source for a in articles}
    sentences, others = mark_in_corpus(sentences, sources, corpus, config.boilerplate)
    target = config.translate.target
    missing = missing_models(sentences, memory, translators, target)
    if missing and config.translate.on_missing_model == "fail":
        raise RunError(_missing_message(missing, packages_dir(config.translate)))
    sentences, report = timed(
        "translate", translate_sentences, sentences, memory, translators, store, target, progress,
        map_chunks,
    )  # fmt: skip
    embedded = timed("embed", embed, sentences, embedder, store, progress, map_chunks)
    return Prepared(sentences, embedded, rejects, others, segmented, report)


def article_states(articles: list[str], prepared: Prepared) -> dict[str, ArticleState]:
    """The state (pipeline/corpus.py) of each of `articles` from what prepare() made of them."""
    languages = article_languages(prepared.sentences)
    embedded = prepared.embedded
    features = article_features(embedded.sentences, embedded.vectors, languages)
    sentences_of: dict[str, list[Sentence]] = defaultdict(list)
    for sentence in prepared.sentences:
        sentences_of[sentence.article_id].append(sentence)
    reason = {reject.input: reject.reason for reject in prepared.rejects}
    return {
        article: ArticleState(reason[article], None, "")
        if article in reason
        else ArticleState(
            "",
            features[article],
            sentences_digest(sentences_of[article]),
            sentence_stats(sentences_of[article]),
        )
        for article in articles
    }


def place_in_stories(
    corpus: Corpus,
    articles: list[Article],
    states: dict[str, ArticleState],
    changed: set[str],
    config: Config,
    previous: dict[str, str],
) -> tuple[list[Story], list[StoryChange], int]:
    """The stories stage: links of the `changed` articles to all others are found anew and
    kept in the corpus, and the stories are the components of every link: only those the
    changed articles touch are grouped anew where the corpus keeps the last run's stories
    (regroup_stories), else all. The stories are kept in the corpus for the next run. Returns
    the stories, their merges and splits, and how many were grouped anew."""
    features = {article: state.features for article, state in states.items() if state.features}
    published = {a.id: parse_published(a.published) for a in articles}
    corpus.drop_links(changed)
    links = story_links(features, published, config.stories, among=changed)
    corpus.put_links(links)
    earlier = corpus.stories()
    minimum = config.stories.min_cosine
    regrouped = regroup_stories(
        articles, features, earlier, changed, links, corpus.links_of, minimum
    )
    if regrouped is None:
        placed = [a for a in articles if a.id in features]
        stories, changes = group_stories(
            placed, features, corpus.links(), previous, min_cosine=minimum
        )
        corpus.put_stories(stories)
        return stories, changes, len(stories)
    stories, changes, grouped = regrouped
    kept = {story.id: story for story in earlier}
    fresh = [story for story in stories if kept.get(story.id) != story]
    corpus.put_stories(fresh, {story.id for story in earlier} - {s.id for s in stories})
    return stories, changes, grouped


def run(
    input_dir: Path,
    config: Config,
    step: Step = call_directly,
    progress: Progress | None = None,
    map_chunks: MapChunks | None = None,
) -> RunResult:
    """Run every stage over `input_dir` and write OUTPUT/<run-id>/.

    `step` runs each stage (the flow: as a Prefect task); `progress` shows long work;
    `map_chunks` runs translate's and embed's chunks elsewhere (the flow with `executor: dask`:
    on a Dask cluster; pipeline/chunks.py). The outputs are the same wherever the chunks run.

    Only new and changed articles are processed, and only the stories they touch aligned and
    written anew; every other row is copied from the latest run (in accumulate mode, over
    every article the output folder has seen).

    Raises PathError for an unusable input or output folder, TranslationMemoryError for a
    memory that cannot be read (both before any work), RunError when the run cannot complete.
    When no article is read (an empty folder, or only rejected files) nothing is written: the
    result's run_dir is None and its rejects say why. The result's alignments are those of the
    stories aligned anew.
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
        took = time.perf_counter() - start
        seconds[name] = round(seconds.get(name, 0.0) + took, 3)  # a stage may run twice
        log.info("%s finished in %.2f s", name, took)
        return result

    articles, rejects = timed("ingest", ingest, input_dir, config.ingest.max_file_bytes)
    accumulate = config.corpus.accumulate
    if not articles and not (accumulate and Corpus.exists(output_dir)):
        return _nothing_read(rejects, seconds)
    if accumulate:
        check_registry(output_dir)
    with contextlib.ExitStack() as held:
        held.enter_context(output_lock(output_dir))
        store = held.enter_context(contextlib.closing(Store(config.paths.cache_dir)))
        started = datetime.now(UTC)  # once this run holds the output folder
        # What this run adds to the registry is committed only with its outputs: an input
        # that stalls or kills a run leaves no trace, and is not read again once removed.
        # Without accumulate mode, the registry lives in memory for this run only.
        corpus = held.enter_context(contextlib.closing(Corpus(output_dir if accumulate else None)))
        change = corpus.update(articles, datetime.now(UTC).isoformat(timespec="seconds"))
        articles = corpus.articles()
        corpus_counts = {}
        if accumulate:
            corpus_counts = {f"articles_{k}": v for k, v in dataclasses.asdict(change).items()}
        if not articles:
            return _nothing_read(rejects, seconds)
        by_id = {a.id: a for a in articles}
        translators = load_translators(config.translate, set(config.langid.languages))
        embedder = Embedder(config.embed, config.paths.cache_dir)
        options = align_options(config, embedder)
        state = state_key(config, memory, translators, embedder)
        corpus.use_state_key(state)

        def prepared(ids: list[str]) -> Prepared:
            return prepare(
                [by_id[i] for i in ids], corpus, memory, translators, embedder, store, config,
                timed, progress, map_chunks,
            )  # fmt: skip

        # New and changed articles, then those whose boilerplate marks they changed.
        parts: list[Prepared] = []
        changed: set[str] = set()
        todo = corpus.stateless()
        while todo:
            parts.append(prepared(todo))
            corpus.put_states(article_states(todo, parts[-1]))
            changed.update(todo)
            todo = sorted(parts[-1].others - changed)
        states = corpus.states()
        story_before = previous_stories(output_dir)
        stories, story_changes, stories_grouped = timed(
            "stories", place_in_stories, corpus, articles, states, changed, config, story_before
        )

        digests = {article: s.digest for article, s in states.items()}
        dates, stated = provenance_dates(articles, corpus.first_seen() if accumulate else {})
        fingerprints = story_fingerprints(stories, articles, digests, stated)
        earlier = previous_run_info(output_dir).get("story_fingerprints") or {}
        changed_stories = [i for i, print_ in fingerprints.items() if earlier.get(i) != print_]
        unplaced = {
            article: s.digest
            for article, s in states.items()
            if s.features is not None and s.features.vector is None
        }
        key = tables_key(state, options, unplaced)
        kept = kept_rows(output_dir, key)
        redo = what_to_redo(stories, changed_stories, kept, changed, set(unplaced), by_id)
        loaded = sorted(redo.articles - changed)
        if loaded:  # from the caches
            parts.append(prepared(loaded))
        sentences = [s for part in parts for s in part.sentences if s.article_id in redo.articles]
        embedded = embedded_of(parts, redo.members)
        untranslated = [s for s in sentences if not s.english and not s.boilerplate]
        taken = frozenset(
            statement
            for story, counts in (kept.index.get("stories", {}) if kept else {}).items()
            if story in fingerprints and story not in redo.stories
            for statement in counts["statements"]
        )
        unplaced_stories = {story.id for story in stories if set(story.articles) & set(unplaced)}
        aligned = timed(
            "align", align_and_group, embedded, untranslated,
            [story for story in stories if story.id in redo.stories | unplaced_stories],
            dates, embedder, store, config, options,
            previous_statements(
                output_dir, {story_before.get(a, "") for a in redo.members},
                kept.index if kept else None,
            ),
            taken,
        )  # fmt: skip
        rejects += [Reject(i, s.reject) for i, s in sorted(states.items()) if s.reject]
        tables = RunTables(
            articles=articles,
            languages={i: s.features.language for i, s in states.items() if s.features},
            sentence_counts={
                i: s.stats["counts"]["sentences"] for i, s in states.items() if s.stats
            },
            stories=stories,
            sentences=sentences,
            alignments=aligned.alignments,
            statements=aligned.statements,
            unique=aligned.unique,
            rejects=rejects,
            fresh_articles=frozenset(redo.articles),
            fresh_stories=frozenset(redo.stories),
            kept=kept,
            tables_key=key,
            dates=dates,
            stated=stated,
        )
        story_of = {article: story.id for story in stories for article in story.articles}
        per_story = story_counts(tables, story_of).values()
        report = merged_report([part.report for part in parts])
        stats = [s.stats for s in states.values() if s.stats]
        counts = {
            "articles": len(articles),
            **corpus_counts,
            "articles_processed": len(changed),
            "articles_segmented": sum(part.segmented for part in parts),
            "rejects": len(rejects),
            "articles_by_lang": dict(sorted(Counter(tables.languages.values()).items())),
            "sentences": sum(x["counts"]["sentences"] for x in stats),
            "sentences_by_lang": _summed(x["by_lang"] for x in stats),
            "sentences_by_origin": _summed(x["by_origin"] for x in stats),
            "boilerplate_sentences": sum(x["counts"]["boilerplate"] for x in stats),
            "translated_new": report.mt_new,
            "translated_cached": report.mt_cached,
            "embedded_new": embedded.encoded,
            "align_embedded_new": aligned.embedded_new,
            "stories": len(stories),
            "stories_grouped": stories_grouped,
            "stories_changed": len(changed_stories),
            "stories_aligned": len(redo.stories),
            "stories_with_several_sources": sum(1 for story in stories if len(story.sources) > 1),
            "alignments": sum(c["alignments"] for c in per_story),
            "alignments_disagree": sum(c["alignments_disagree"] for c in per_story),
            "statements": sum(len(c["statements"]) for c in per_story),
            "unique_sentences": sum(c["unique"] for c in per_story),
            # Unique sentences that could not be compared with every other source's sentences.
            "unique_unchecked": sum(c["unique_unchecked"] for c in per_story),
            "untranslated_sentences": sum(x["counts"]["untranslated"] for x in stats),
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
                "embedding_backend": embedder.backend,  # what embed.backend (auto) ran on
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
            # Of the align stage's seconds, those spent embedding joined sentences (cache
            # lookups included).
            "align_embed_seconds": round(aligned.embed_seconds, 3),
        }
        # The report is part of the export stage: it is made from the tables just written.
        run_dir = timed(
            "export", write_run, output_dir, run_id, tables, run_info,
            lambda folder, index, info: write_report(folder, index=index, info=info),
            config.paths.keep_runs,
        )  # fmt: skip
        corpus.commit()
    return RunResult(run_id, run_dir, counts, report.missing, seconds, aligned.alignments, rejects)


@dataclass(frozen=True)
class Redo:
    """What a run writes anew; it copies every other row from `kept` (the latest run's)."""

    stories: set[str]  # aligned and written anew
    members: set[str]  # their articles
    articles: set[str]  # whose sentences are written anew


def what_to_redo(
    stories: list[Story],
    changed_stories: Collection[str],
    kept: KeptRows | None,
    changed: set[str],
    unplaced: set[str],
    every: Collection[str],
) -> Redo:
    """The `changed_stories` (their fingerprint differs from the latest run's), or all of them
    when its rows cannot be `kept`; the articles written anew are theirs, the `changed` ones
    and the `unplaced` (their untranslated sentences count in every story), or `every`
    article when nothing is kept."""
    redone = {story.id for story in stories} if kept is None else set(changed_stories)
    members = {a for story in stories if story.id in redone for a in story.articles}
    articles = set(every) if kept is None else changed | members | unplaced
    return Redo(redone, members, articles)


def embedded_of(parts: list[Prepared], articles: set[str]) -> Embedded:
    """The embedded sentences (and vectors) of these `articles` from the prepared `parts`; the
    background's vectors from the first part (none without parts: then nothing is aligned)."""
    rows = [
        (part, row)
        for part in parts
        for row, s in enumerate(part.embedded.sentences)
        if s.article_id in articles
    ]
    vectors = np.zeros((0, 0), np.float32)
    if rows:
        vectors = np.stack([part.embedded.vectors[row] for part, row in rows])
    encoded = sum(part.embedded.encoded for part in parts)
    background = parts[0].embedded.background if parts else np.zeros((0, 0), np.float32)
    return Embedded(
        [part.embedded.sentences[row] for part, row in rows], vectors, encoded, background
    )


def merged_report(reports: list[TranslateReport]) -> TranslateReport:
    """One report for the parts a run translated."""
    merged = TranslateReport()
    missing: Counter = Counter()
    for report in reports:
        merged.mt_new += report.mt_new
        merged.mt_cached += report.mt_cached
        merged.packages.update(report.packages)
        missing.update({m.lang: m.sentences for m in report.missing})
    # The parts share their models: any part's record of a language says how it is missing.
    record = {m.lang: m for r in reports for m in r.missing}
    merged.missing = [
        dataclasses.replace(record[lang], sentences=n) for lang, n in sorted(missing.items())
    ]
    return merged


def _summed(counters: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter = Counter()
    for counter in counters:
        total.update(counter)
    return dict(sorted(total.items()))


def _nothing_read(rejects: list[Reject], seconds: dict[str, float]) -> RunResult:
    counts = {"articles": 0, "rejects": len(rejects)}
    return RunResult("", None, counts, [], seconds, [], rejects)


def _missing_message(missing: list[MissingModel], folder: Path) -> str:
    parts = [f"{m.lang}: {m.sentences} sentences (run `{m.install_command}`)" for m in missing]
    return f"no translation model installed in {folder} for " + "; ".join(parts)
