import json
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import ctranslate2
import pytest
import sentencepiece as spm

from pipeline.chunks import ChunkError
from pipeline.config import TranslateConfig
from pipeline.records import Sentence
from pipeline.store import Store
from pipeline.translate import load_translators, missing_models, translate_sentences
from pipeline.translate.argos import ArgosTranslator, DecodingOptions, translate_on_worker
from pipeline.translate.memory import TranslationMemory, TranslationMemoryError
from pipeline.translate.packages import (
    PackageError,
    check_archive,
    find_package,
    install_command,
    install_file,
    installed_packages,
    remove,
)

RU = [
    "Союзники осуждают отправку войск.",
    "Министерство заявило, что вода безопасна.",
    "Власти подтвердили эвакуацию.",
]


def sentence(text: str, lang: str, article: str = "a.txt", position: int = 0) -> Sentence:
    return Sentence(article, "src", position, text, lang=lang)


# Translation memory


def test_tsv_memory_matches_on_whitespace_normalised_source(tmp_path):
    path = tmp_path / "tm.tsv"
    path.write_text("Вода   безопасна.\tThe water is safe.\n\n", encoding="utf-8")
    memory = TranslationMemory.from_files([path])
    assert memory.lookup(" Вода безопасна. ") == "The water is safe."
    assert memory.lookup("Вода опасна.") is None


def test_csv_memory_with_quoted_commas(tmp_path):
    path = tmp_path / "tm.csv"
    path.write_text('"Да, это так.","Yes, it is."\n', encoding="utf-8")
    assert TranslationMemory.from_files([path]).lookup("Да, это так.") == "Yes, it is."


TMX_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<tmx version="1.4"{xmlns}><header srclang="ru" datatype="plaintext" segtype="sentence"
 adminlang="en" creationtool="t" creationtoolversion="1" o-tmf="t"/>
<body>
"""


def write_tmx(path: Path, units: str, xmlns: str = "") -> Path:
    path.write_text(TMX_HEADER.format(xmlns=xmlns) + units + "\n</body></tmx>\n", encoding="utf-8")
    return path


def test_tmx_memory_takes_the_english_variant_of_each_unit(tmp_path):
    path = write_tmx(
        tmp_path / "tm.tmx",
        """<tu><tuv xml:lang="ru"><seg>Вода безопасна.</seg></tuv>
    <tuv xml:lang="en-GB"><seg>Water is safe.</seg></tuv></tu>
<tu><tuv xml:lang="uk"><seg>Вода безпечна.</seg></tuv>
    <tuv xml:lang="en"><seg>The water is safe.</seg></tuv></tu>""",
    )
    memory = TranslationMemory.from_files([path])
    assert memory.lookup("Вода безопасна.") == "Water is safe."
    assert memory.lookup("Вода безпечна.") == "The water is safe."


def test_tmx_inline_codes_are_dropped_and_highlighted_text_kept(tmp_path):
    path = write_tmx(
        tmp_path / "tm.tmx",
        """<tu><tuv xml:lang="ru"><seg>Министр <bpt i="1">&lt;b&gt;</bpt>Иван Петров<ept i="1">\
&lt;/b&gt;</ept> прибыл в Киев.</seg></tuv>
<tuv xml:lang="en"><seg>Minister <bpt i="1">&lt;b&gt;</bpt>Ivan Petrov<ept i="1">&lt;/b&gt;\
</ept> arrived in Kyiv.<ph x="2">&lt;br/&gt;</ph></seg></tuv></tu>
<tu><tuv xml:lang="ru"><seg>Мэр <hi type="b">закрыл</hi> мост<it pos="begin">&lt;i&gt;</it>.\
<ut>{\\f1}</ut></seg></tuv>
<tuv xml:lang="en"><seg>The mayor <hi>closed</hi> the bridge.</seg></tuv></tu>
<tu><tuv xml:lang="ru"><seg>Фото<ph>&lt;img alt="<sub>мост</sub>"/&gt;</ph>.</seg></tuv>
<tuv xml:lang="en"><seg>Photo<ph>&lt;img alt="<sub>bridge</sub>"/&gt;</ph>.</seg></tuv></tu>""",
    )
    memory = TranslationMemory.from_files([path])
    assert memory.lookup("Министр Иван Петров прибыл в Киев.") == (
        "Minister Ivan Petrov arrived in Kyiv."
    )
    assert memory.lookup("Мэр закрыл мост.") == "The mayor closed the bridge."
    assert memory.lookup("Фото мост .") == "Photo bridge ."  # a sub's text is kept
    assert not any("<" in english or "&" in english for english in memory.entries.values())


def test_tmx_with_the_default_namespace_loads_every_unit(tmp_path):
    path = write_tmx(
        tmp_path / "tm.tmx",
        """<tu><tuv xml:lang="ru"><seg>Вода безопасна.</seg></tuv>
<tuv xml:lang="en"><seg>Water is safe.</seg></tuv></tu>""",
        xmlns=' xmlns="http://www.lisa.org/tmx14"',
    )
    memory = TranslationMemory.from_files([path])
    assert memory.lookup("Вода безопасна.") == "Water is safe."
    assert (memory.files[0].entries, dict(memory.files[0].skipped)) == (1, {})


def test_an_empty_target_is_no_entry_in_tmx_and_tsv(tmp_path):
    tmx = write_tmx(
        tmp_path / "tm.tmx",
        """<tu><tuv xml:lang="ru"><seg>Пустой перевод.</seg></tuv>
<tuv xml:lang="en"><seg/></tuv></tu>
<tu><tuv xml:lang="ru"><seg>Вода безопасна.</seg></tuv>
<tuv xml:lang="en"><seg>Water is safe.</seg></tuv></tu>""",
    )
    tsv = tmp_path / "tm.tsv"
    tsv.write_text("Порожній переклад.\t \nВода безпечна.\tWater is safe.\n", encoding="utf-8")
    memory = TranslationMemory.from_files([tmx, tsv])
    assert memory.lookup("Пустой перевод.") is None
    assert memory.lookup("Порожній переклад.") is None
    assert [dict(f.skipped) for f in memory.files] == [{"empty en side": 1}] * 2


def test_language_tags_of_every_common_spelling_count(tmp_path):
    path = write_tmx(
        tmp_path / "tm.tmx",
        """<tu><tuv xml:lang="ru-RU"><seg>Один.</seg></tuv>
<tuv xml:lang="en_GB"><seg>One.</seg></tuv></tu>
<tu><tuv xml:lang="uk_UA"><seg>Два.</seg></tuv><tuv xml:lang="eng"><seg>Two.</seg></tuv></tu>
<tu><tuv xml:lang="RU"><seg>Три.</seg></tuv><tuv xml:lang="EN-GB"><seg>Three.</seg></tuv></tu>
<tu><tuv xml:lang="ukr"><seg>Чотири.</seg></tuv><tuv xml:lang="en-US"><seg>Four.</seg></tuv></tu>
<tu><tuv xml:lang="ru"><seg>Пять.</seg></tuv><tuv xml:lang="de"><seg>Fünf.</seg></tuv></tu>
<tu><tuv xml:lang="??"><seg>Шесть.</seg></tuv><tuv xml:lang="en"><seg>Six.</seg></tuv></tu>""",
    )
    memory = TranslationMemory.from_files([path])
    assert [memory.lookup(w) for w in ("Один.", "Два.", "Три.", "Чотири.")] == [
        "One.", "Two.", "Three.", "Four.",
    ]  # fmt: skip
    assert dict(memory.files[0].skipped) == {
        "no en side": 1,
        "language tag '??' not understood": 1,
        "no source side": 1,
    }


def test_tsv_keeps_quotes_as_text_and_skips_a_bad_row_with_its_line(tmp_path, caplog):
    path = tmp_path / "tm.tsv"
    path.write_text(
        '"Нафтогаз" подав позов.\t"Naftogaz" filed a claim.\n'
        '"Незакрита лапка.\tAn unclosed quote.\n'
        "one column only\n"
        "Суд відклав засідання.\tThe court adjourned.\n",
        encoding="utf-8",
    )
    memory = TranslationMemory.from_files([path])
    assert memory.lookup('"Нафтогаз" подав позов.') == '"Naftogaz" filed a claim.'
    assert memory.lookup('"Незакрита лапка.') == "An unclosed quote."
    assert memory.lookup("Суд відклав засідання.") == "The court adjourned."
    assert dict(memory.files[0].skipped) == {"bad row": 1}
    assert "tm.tsv:3: expected 2 columns (source, English), found 1; row skipped" in caplog.text


def test_an_unclosed_quote_in_csv_costs_its_own_row_only(tmp_path, caplog):
    path = tmp_path / "tm.csv"
    path.write_text(
        "Вода безопасна.,Water is safe.\n"
        '"Нафтогаз подал иск.,Naftogaz filed a claim.\n'
        "Суд отложил заседание.,The court adjourned.\n"
        '"Да, это так.","Yes, it is."\n'
        "Мост закрыт.,The bridge is closed.,\n",  # a spreadsheet's trailing separator
        encoding="utf-8",
    )
    memory = TranslationMemory.from_files([path])
    assert memory.lookup("Суд отложил заседание.") == "The court adjourned."
    assert memory.lookup("Да, это так.") == "Yes, it is."
    assert memory.lookup("Мост закрыт.") == "The bridge is closed."
    assert (memory.files[0].entries, dict(memory.files[0].skipped)) == (4, {"bad row": 1})
    assert "tm.csv:2: expected 2 columns (source, English), found 1" in caplog.text


def test_entities_a_tmx_declares_are_expanded(tmp_path):
    path = tmp_path / "tm.tmx"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE tmx [<!ENTITY org "Нафтогаз"><!ENTITY nbsp "&#160;">]>\n'
        '<tmx version="1.4"><header srclang="ru" datatype="plaintext" segtype="sentence"'
        ' adminlang="en" creationtool="t" creationtoolversion="1" o-tmf="t"/><body>'
        '<tu><tuv xml:lang="ru"><seg>&org; подал иск на 5&nbsp;млн.</seg></tuv>'
        '<tuv xml:lang="en"><seg>Naftogaz filed a 5 million claim.</seg></tuv></tu>'
        "</body></tmx>",
        encoding="utf-8",
    )
    memory = TranslationMemory.from_files([path])
    assert memory.lookup("Нафтогаз подал иск на 5 млн.") == "Naftogaz filed a 5 million claim."


def test_a_memory_that_gives_no_entry_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "tm.tsv"
    path.write_text("only one column\n", encoding="utf-8")
    with pytest.raises(TranslationMemoryError, match=r"no entry could be read from .*tm.tsv"):
        TranslationMemory.from_files([path])


def test_broken_tmx_names_the_file(tmp_path):
    path = tmp_path / "tm.tmx"
    path.write_text("<tmx><body><tu>", encoding="utf-8")
    with pytest.raises(TranslationMemoryError, match=r"tm.tmx: not valid TMX"):
        TranslationMemory.from_files([path])


def test_an_invisible_difference_still_matches_the_memory(tmp_path):
    path = tmp_path / "tm.tsv"
    path.write_text(
        "Президент прибув до Києва.\tThe president arrived in Kyiv.\n", encoding="utf-8"
    )
    memory = TranslationMemory.from_files([path])
    spellings = [
        "Пре\u00adзи\u00adдент прибув до Києва.",  # soft hyphens
        "Президент\u200b прибув до Києва.",  # a zero-width space
        unicodedata.normalize("NFD", "Президент прибув до Києва."),  # decomposed й, ї
        "Президент\u00a0прибув до\u202fКиєва.",  # no-break spaces
    ]
    assert [memory.lookup(text) for text in spellings] == ["The president arrived in Kyiv."] * 4


def test_a_200000_unit_tmx_is_read_in_memory_bounded_by_its_entries(tmp_path):
    """Streamed: the peak grows with the entries kept, not with the parsed document."""
    path = tmp_path / "big.tmx"
    with path.open("w", encoding="utf-8") as file:
        file.write(TMX_HEADER.format(xmlns=""))
        for i in range(200_000):
            # Every unit after the first 1,000 repeats a source: 1,000 entries are kept.
            file.write(
                f'<tu><tuv xml:lang="ru"><seg>Предложение номер {i % 1000} о воде.</seg></tuv>'
                f'<tuv xml:lang="en"><seg>Sentence number {i} about water.</seg></tuv></tu>\n'
            )
        file.write("</body></tmx>\n")
    script = (
        "import resource, sys; from pathlib import Path;"
        "from pipeline.translate.memory import TranslationMemory;"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "memory = TranslationMemory.from_files([Path(sys.argv[1])]);"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "print(len(memory), (after - before) // 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    entries, grown_mib = map(int, done.stdout.split())
    assert entries == 1000
    assert path.stat().st_size > 30 * 2**20
    # A parsed tree of this file takes hundreds of MiB; the stream keeps one unit at a time.
    assert grown_mib < 40, done.stdout


# Packages


def test_tiny_packages_install_with_argostranslate_and_are_listed(installed_packages_dir):
    pairs = [(p.from_code, p.to_code) for p in installed_packages(installed_packages_dir)]
    assert pairs == [("ru", "en"), ("uk", "en")]


def test_remove_deletes_the_package_folder(tmp_path, tiny_model_files):
    install_file(tiny_model_files["ru"], tmp_path)
    removed = remove("ru", tmp_path)
    assert not Path(removed.package_path).exists()
    assert find_package(tmp_path, "ru", "en") is None
    with pytest.raises(PackageError, match="no ru→en package is installed"):
        remove("ru", tmp_path)


def rezip(source: Path, target: Path, extra: dict[str, bytes] = {}, drop: str = "") -> Path:  # noqa: B006
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            if drop and item.filename.endswith(drop):
                continue
            new.writestr(item, old.read(item))
        for name, data in extra.items():
            new.writestr(name, data)
    return target


@pytest.mark.parametrize(
    ("extra", "drop", "message"),
    [
        ({"../evil.txt": b"x"}, "", "points outside the package"),
        ({"/etc/evil": b"x"}, "", "points outside the package"),
        ({}, "model.bin", "model/model.bin is missing"),
        ({}, "sentencepiece.model", "no tokenizer"),
    ],
)
def test_bad_archives_are_refused_before_extraction(
    tmp_path, tiny_model_files, extra, drop, message
):
    bad = rezip(tiny_model_files["ru"], tmp_path / "bad.argosmodel", extra, drop)
    packages_dir = tmp_path / "packages"
    with pytest.raises(PackageError, match=message):
        install_file(bad, packages_dir)
    assert not packages_dir.exists() or not any(packages_dir.iterdir())
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_entry_is_refused(tmp_path, tiny_model_files):
    bad = tmp_path / "link.argosmodel"
    rezip(tiny_model_files["ru"], bad)
    with zipfile.ZipFile(bad, "a") as archive:
        link = zipfile.ZipInfo("translate-ru_en-synthetic/escape")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(PackageError, match="symbolic link"):
        check_archive(bad)


def test_bad_metadata_is_refused(tmp_path, tiny_model_files):
    bad = tmp_path / "meta.argosmodel"
    with zipfile.ZipFile(tiny_model_files["ru"]) as old, zipfile.ZipFile(bad, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename.endswith("metadata.json"):
                data = json.dumps({"from_code": "ru"}).encode()
            new.writestr(item, data)
    with pytest.raises(PackageError, match="metadata.json needs"):
        check_archive(bad)


def test_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "x.argosmodel"
    path.write_bytes(b"not a zip")
    with pytest.raises(PackageError, match="not a zip archive"):
        check_archive(path)


# Machine translation


def options(**changes) -> DecodingOptions:
    config = TranslateConfig(beam_size=2, max_decoding_length=12, batch_size=2, **changes)
    return DecodingOptions.from_config(config)


def test_batched_translation_equals_raw_ctranslate2_in_input_order(installed_packages_dir):
    package = find_package(installed_packages_dir, "ru", "en")
    translator = ArgosTranslator(package, options())
    done = []
    english = translator.translate(RU, on_chunk=lambda indices, text: done.append(len(indices)))

    processor = spm.SentencePieceProcessor(
        model_file=str(Path(package.package_path) / "sentencepiece.model")
    )
    raw = ctranslate2.Translator(str(Path(package.package_path) / "model"))
    results = raw.translate_batch(
        [processor.encode(text, out_type=str) for text in RU],
        max_batch_size=2,
        beam_size=2,
        max_decoding_length=12,
        replace_unknowns=True,
        length_penalty=0.2,
    )
    expected = [package.tokenizer.decode(r.hypotheses[0]).strip() for r in results]
    assert english == expected
    assert all(english)
    assert sum(done) == len(RU)


def test_cache_key_changes_with_decoding_options_not_batching(installed_packages_dir):
    package = find_package(installed_packages_dir, "ru", "en")
    base = ArgosTranslator(package, options()).cache_key
    assert ArgosTranslator(package, options(inter_threads=2)).cache_key == base
    assert ArgosTranslator(package, options(compute_type="float32")).cache_key != base


def test_translate_stage_uses_original_tm_mt_and_skipped(installed_packages_dir, tmp_path):
    config = TranslateConfig(
        packages_dir=installed_packages_dir, beam_size=1, max_decoding_length=8
    )
    sentences = [
        sentence("The water is safe.", "en", position=0),
        sentence("Вода безопасна.", "ru", position=1),
        sentence(RU[0], "ru", position=2),
        sentence(RU[0], "ru", article="b.txt", position=0),  # a repeat is translated once
        sentence("Das Wasser ist sicher.", "other", position=3),
        sentence("Вода безпечна.", "uk", position=4),
    ]
    memory = TranslationMemory({"Вода безопасна.": "Water is safe (TM)."})
    translators = load_translators(config, {"ru"})  # as if no uk package were installed
    store = Store(tmp_path)
    out, report = translate_sentences(sentences, memory, translators, store)

    assert [s.english_origin for s in out] == ["original", "tm", "mt", "mt", "skipped", "skipped"]
    assert out[0].english == "The water is safe."
    assert out[1].english == "Water is safe (TM)."
    assert out[2].english == out[3].english != ""
    assert [(s.text, s.lang) for s in out] == [(s.text, s.lang) for s in sentences]
    assert report.mt_new == 1 and report.mt_cached == 0
    assert [(m.lang, m.sentences, m.install_command) for m in report.missing] == [
        ("other", 1, ""),
        ("uk", 1, install_command("uk")),
    ]
    assert [
        (m.lang, m.sentences) for m in missing_models(sentences, memory, translators, "en")
    ] == [("uk", 1)]

    _, again = translate_sentences(sentences, memory, load_translators(config, {"ru"}), store)
    assert again.mt_new == 0 and again.mt_cached == 1


def test_a_worker_translates_as_this_process_does_and_refuses_another_package(
    installed_packages_dir,
):
    package = find_package(installed_packages_dir, "ru", "en")
    translator = ArgosTranslator(package, options())
    spec = (str(package.package_path), options(), translator.cache_key)
    # What the cluster's workers are sent, run here (the flow test runs it on a cluster).
    sent = []

    def map_here(name, function, spec, chunks):
        sent.append((name, len(chunks)))
        return (function(spec, chunk) for chunk in chunks)

    assert translator.translate(RU, map_chunks=map_here) == translator.translate(RU)
    assert sent == [("translate ru", 1)]
    with pytest.raises(ChunkError, match="not the run's"):
        translate_on_worker((spec[0], spec[1], "argos:ru-en@other#weights"), [["▁a"]])


def test_a_chunk_lost_elsewhere_fails_the_stage_where_a_damaged_model_skips_its_language(
    installed_packages_dir, tmp_path
):
    config = TranslateConfig(packages_dir=installed_packages_dir, beam_size=1)
    sentences = [sentence(RU[0], "ru", position=0)]

    def lost(name, function, spec, chunks):
        raise ChunkError("translate ru chunk 1 of 1 was lost on the Dask cluster")

    with pytest.raises(ChunkError, match="lost"):
        translate_sentences(
            sentences, TranslationMemory({}), load_translators(config, {"ru"}), Store(tmp_path),
            map_chunks=lost,
        )  # fmt: skip

    def damaged(name, function, spec, chunks):
        raise RuntimeError("Unable to open file 'model.bin'")

    out, report = translate_sentences(
        sentences, TranslationMemory({}), load_translators(config, {"ru"}), Store(tmp_path),
        map_chunks=damaged,
    )  # fmt: skip
    assert [s.english_origin for s in out] == ["skipped"]
    assert [m.lang for m in report.missing] == ["ru"]
    assert report.mt_new == 0  # run.json's translated_new: no sentence went through a model
