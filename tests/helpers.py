"""Small helpers shared by several test modules."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Screenshots the browser tests take, for a person to look at after a run.
SCREENSHOTS = Path(__file__).resolve().parents[1] / "outputs" / "screenshots"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="chromium and chromedriver are not installed (Debian packages chromium, "
    "chromium-driver; `make test` installs them where apt-get is allowed)",
)


@contextlib.contextmanager
def headless_chromium(profile: Path) -> Iterator:
    """A Selenium driver of Debian's headless Chromium, 1400 x 1000, its console logged."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in [*BROWSER_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def write(root: Path, relative: str, content: str | bytes) -> Path:
    """Write `content` (text as UTF-8, or bytes) at root/relative, creating folders."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def break_segmentation(monkeypatch, marker: str, error: Exception) -> None:
    """Make sentence splitting raise `error` for any text containing `marker`."""
    from pipeline import segment

    real_split = segment.split_sentences

    def split_or_break(text: str) -> list[str]:
        if marker in text:
            raise error
        return real_split(text)

    monkeypatch.setattr(segment, "split_sentences", split_or_break)
