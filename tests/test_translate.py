import json
import zipfile
from pathlib import Path

import ctranslate2
import pytest
import sentencepiece as spm

from pipeline.config import TranslateConfig
from pipeline.records import Sentence
from pipeline.store import Store
from pipeline.translate import load_translators, missing_models, translate_sentences
from pipeline.translate.argos import ArgosTranslator, DecodingOptions
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


def test_tmx_memory_takes_the_english_variant_of_each_unit(tmp_path):
    path = tmp_path / "tm.tmx"
    path.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<tmx version="1.4"><header srclang="ru" datatype="plaintext" segtype="sentence" adminlang="en"
 creationtool="t" creationtoolversion="1" o-tmf="t"/>
<body>
<tu><tuv xml:lang="ru"><seg>Вода безопасна.</seg></tuv>
    <tuv xml:lang="en-GB"><seg>Water is <ph>x</ph>safe.</seg></tuv></tu>
<tu><tuv xml:lang="uk"><seg>Вода безпечна.</seg></tuv>
    <tuv xml:lang="en"><seg>The water is safe.</seg></tuv></tu>
</body></tmx>""",
        encoding="utf-8",
    )
    memory = TranslationMemory.from_files([path])
    assert memory.lookup("Вода безопасна.") == "Water is xsafe."
    assert memory.lookup("Вода безпечна.") == "The water is safe."


def test_memory_row_with_wrong_column_count_names_file_and_line(tmp_path):
    path = tmp_path / "tm.tsv"
    path.write_text("a\tb\nonly one column\n", encoding="utf-8")
    with pytest.raises(TranslationMemoryError, match=r"tm.tsv:2: expected two columns"):
        TranslationMemory.from_files([path])


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
