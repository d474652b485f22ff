"""Argos model packages: list, install (online or from a file) and remove, through argostranslate.

argostranslate's `package` module owns the package format and extraction; this module adds
what a scheduled, offline tool needs on top: a configurable packages folder, an archive check
before anything is extracted, and errors that say what to do next.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from argostranslate import package as argos_package
from argostranslate import settings as argos_settings

log = logging.getLogger(__name__)

INDEX_TIMEOUT_SECONDS = 20
REQUIRED_METADATA = ("from_code", "to_code", "package_version")
# Limits checked on the archive's directory before anything is extracted. Argos's released
# packages hold about ten entries and 100-300 MB of weights, which barely compress.
MAX_ENTRIES = 1000
MAX_UNPACKED_BYTES = 4 * 2**30
MAX_METADATA_BYTES = 2**20
MAX_COMPRESSION_RATIO = 100  # a zip bomb's is in the thousands
STAGING_PREFIX = ".installing-"  # hidden: never listed as installed


class PackageError(RuntimeError):
    """A package cannot be installed, found or removed; the message says what to do."""


def parallax_command() -> str:
    """The `parallax` console script as a user can paste it: `parallax` where that name on PATH
    is this installation's script, else the script's path (relative to the current folder when
    under it, as `.venv/bin/parallax` from the project root)."""
    script = Path(sys.executable).with_name("parallax")
    on_path = shutil.which("parallax")
    if not script.exists() or (on_path and Path(on_path).resolve() == script.resolve()):
        return "parallax"
    return os.path.relpath(script) if script.is_relative_to(Path.cwd()) else str(script)


def install_command(lang: str) -> str:
    """The command that installs the LANG→en model, ready to paste."""
    return f"{parallax_command()} models install {lang}"


def install_file_command() -> str:
    """The command that installs a downloaded package file (offline), ready to paste."""
    return f"{parallax_command()} models install --file PATH.argosmodel"


def default_packages_dir() -> Path:
    return Path(argos_settings.package_data_dir)


@contextlib.contextmanager
def _extracting_into(packages_dir: Path) -> Iterator[None]:
    # argostranslate extracts into its settings' folder; point it at ours for the call.
    previous = argos_settings.package_data_dir
    argos_settings.package_data_dir = packages_dir
    try:
        yield
    finally:
        argos_settings.package_data_dir = previous


def installed_packages(packages_dir: Path) -> list[argos_package.Package]:
    """Packages in `packages_dir`, sorted by language pair. Folders without metadata are
    ignored; one whose metadata cannot be read (damaged on disk, no language codes) is left out
    with a warning naming it, so its language is missing rather than every run failing."""
    if not packages_dir.is_dir():
        return []
    found = []
    for path in sorted(packages_dir.iterdir()):
        if not (path / "metadata.json").is_file():
            continue
        try:  # JSON and UTF-8 decoding errors are ValueErrors; JSON not an object, AttributeError
            package = argos_package.Package(path)
        except (OSError, ValueError, AttributeError) as error:
            log.warning("the package in %s is left out: its metadata.json fails (%s); "
                        "install it again", path, error)  # fmt: skip
            continue
        if not all(isinstance(getattr(package, key, None), str) for key in REQUIRED_METADATA):
            log.warning("the package in %s is left out: its metadata.json lacks one of %s; "
                        "install it again", path, ", ".join(REQUIRED_METADATA))  # fmt: skip
            continue
        found.append(package)
    return sorted(found, key=lambda p: (p.from_code, p.to_code, p.package_version))


def find_package(packages_dir: Path, from_code: str, to_code: str) -> argos_package.Package | None:
    """The newest installed package for from_code→to_code, if any."""
    matches = [
        p
        for p in installed_packages(packages_dir)
        if (p.from_code, p.to_code) == (from_code, to_code)
    ]
    return matches[-1] if matches else None


def check_archive(path: Path) -> dict:
    """Refuse an archive that is not a well-formed Argos package; returns its metadata.

    Checked before anything is extracted: one top-level folder, no absolute or `..` paths, no
    symlinks, metadata.json with the language codes, a CTranslate2 model and a tokenizer; and
    bounds on entries, unpacked size, compression ratio and metadata size (zip bombs), as the
    archive's directory declares them (extraction stops at the declared sizes).
    """
    if not path.is_file():
        raise PackageError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise PackageError(f"{path}: not an Argos package (not a zip archive)")
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        _check_sizes(path, members)
        names = []
        for member in members:
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in member.filename:
                raise PackageError(
                    f"{path}: refused: entry {member.filename!r} points outside the package"
                )
            if stat.S_ISLNK(member.external_attr >> 16):
                raise PackageError(f"{path}: refused: entry {member.filename!r} is a symbolic link")
            names.append(name)
        tops = {name.parts[0] for name in names if name.parts}
        if len(tops) != 1:
            raise PackageError(
                f"{path}: refused: expected one top-level folder, found {sorted(tops)}"
            )
        (top,) = tops
        present = {name.as_posix().rstrip("/") for name in names}
        for required in ("metadata.json", "model/model.bin"):
            if f"{top}/{required}" not in present:
                raise PackageError(f"{path}: refused: {required} is missing")
        if not {f"{top}/sentencepiece.model", f"{top}/bpe.model"} & present:
            raise PackageError(f"{path}: refused: no tokenizer (sentencepiece.model or bpe.model)")
        if archive.getinfo(f"{top}/metadata.json").file_size > MAX_METADATA_BYTES:
            raise PackageError(f"{path}: refused: metadata.json is over {MAX_METADATA_BYTES} bytes")
        try:
            metadata = json.loads(archive.read(f"{top}/metadata.json"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise PackageError(
                f"{path}: refused: metadata.json is not valid JSON: {error}"
            ) from None
    if not isinstance(metadata, dict) or any(
        not isinstance(metadata.get(key), str) or not metadata[key] for key in REQUIRED_METADATA
    ):
        raise PackageError(f"{path}: refused: metadata.json needs {', '.join(REQUIRED_METADATA)}")
    return {**metadata, "folder": top}


def _check_sizes(path: Path, members: list[zipfile.ZipInfo]) -> None:
    unpacked = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members)
    if len(members) > MAX_ENTRIES:
        raise PackageError(f"{path}: refused: {len(members)} entries, over {MAX_ENTRIES}")
    if unpacked > MAX_UNPACKED_BYTES:
        raise PackageError(
            f"{path}: refused: unpacks to {unpacked} bytes, over {MAX_UNPACKED_BYTES}"
        )
    if unpacked > MAX_COMPRESSION_RATIO * max(packed, 1) and unpacked > 2**20:
        raise PackageError(
            f"{path}: refused: unpacks to {unpacked} bytes from {packed} "
            f"(over {MAX_COMPRESSION_RATIO} times: a zip bomb, not model weights)"
        )


def check_loads(package: argos_package.Package) -> None:
    """Raise PackageError unless the package's tokenizer and model load and translate one
    sentence: a package with a garbage `model.bin` or tokenizer is never called installed."""
    from pipeline.config import TranslateConfig
    from pipeline.translate.argos import ArgosTranslator, DecodingOptions

    options = DecodingOptions.from_config(
        TranslateConfig(beam_size=1, max_decoding_length=8, inter_threads=1, intra_threads=1)
    )
    try:
        ArgosTranslator(package, options).translate(["Test."])
    except Exception as error:  # whatever CTranslate2 or SentencePiece raise on a bad file
        raise PackageError(
            f"{package.from_code}→{package.to_code} package does not load: {error!r:.200}"
        ) from None


def install_file(path: Path, packages_dir: Path) -> argos_package.Package:
    """Install a local `.argosmodel` file with argostranslate's own installer.

    The archive is checked (check_archive), extracted into a hidden staging folder, loaded and
    tried on one sentence (check_loads), and only then renamed into `packages_dir`, replacing
    an older version of the same language pair. An install that fails or is killed half-way
    leaves no package that is listed. Raises PackageError.
    """
    metadata = check_archive(path)
    folder = packages_dir / metadata["folder"]
    if (folder / "metadata.json").is_file():
        present = argos_package.Package(folder)
        if (present.from_code, present.to_code) != (metadata["from_code"], metadata["to_code"]):
            raise PackageError(
                f"{path}: refused: its folder {metadata['folder']!r} would overwrite the "
                f"installed {present.from_code}→{present.to_code} package"
            )
    packages_dir.mkdir(parents=True, exist_ok=True)
    for stale in packages_dir.glob(f"{STAGING_PREFIX}*"):  # left by a killed install
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=packages_dir))
    try:
        with _extracting_into(staging):
            argos_package.install_from_path(path)
        try:
            check_loads(argos_package.Package(staging / metadata["folder"]))
        except PackageError as error:
            raise PackageError(f"{path}: refused: {error}") from None
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging / metadata["folder"], folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    installed = find_package(packages_dir, metadata["from_code"], metadata["to_code"])
    if installed is None:
        raise PackageError(f"{path}: extracted, but no package was found in {packages_dir}")
    return installed


def install_online(lang: str, packages_dir: Path, to_code: str = "en") -> argos_package.Package:
    """Download the lang→to_code package from the Argos index and install it."""
    offline_hint = (
        f"Without a network, download the .argosmodel elsewhere and run `{install_file_command()}`."
    )
    try:
        with urllib.request.urlopen(
            argos_settings.remote_package_index, timeout=INDEX_TIMEOUT_SECONDS
        ) as response:
            index = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise PackageError(
            f"cannot reach the Argos package index ({error}). {offline_hint}"
        ) from None
    available = [argos_package.AvailablePackage(entry) for entry in index]
    matches = [p for p in available if (p.from_code, p.to_code) == (lang, to_code)]
    if not matches:
        raise PackageError(f"the Argos index has no {lang}→{to_code} package")
    try:
        download = matches[-1].download()
    except Exception as error:  # argostranslate raises bare Exception on a failed download
        raise PackageError(
            f"download of {lang}→{to_code} failed ({error}). {offline_hint}"
        ) from None
    return install_file(Path(download), packages_dir)


def remove(lang: str, packages_dir: Path, to_code: str = "en") -> argos_package.Package:
    installed = find_package(packages_dir, lang, to_code)
    if installed is None:
        raise PackageError(f"no {lang}→{to_code} package is installed in {packages_dir}")
    argos_package.uninstall(installed)
    return installed
