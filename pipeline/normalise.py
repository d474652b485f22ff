"""Remove the differences a reader cannot see between two spellings of one text.

Web pages and CAT tools write the same sentence with soft hyphens (`Пре&shy;зи&shy;дент`),
zero-width spaces and joiners, direction marks, non-breaking or other Unicode spaces, and
letters composed or decomposed (NFD `й` is `и` + U+0306). Exact matching (translation memory),
the sentence splitter and the embedder must see one spelling. Nothing visible changes: unlike
NFKC, composition (NFC) keeps ligatures, superscripts and full-width forms as they are.
"""

from __future__ import annotations

import re
import unicodedata

# Characters with no width: soft hyphen, zero-width space/non-joiner/joiner, word joiner,
# left-to-right and right-to-left marks and embeddings/isolates, a BOM inside the text.
_INVISIBLE = re.compile(
    "[\u00ad\u200b\u200c\u200d\u2060\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
# Spaces other than the ASCII one, line breaks excluded: no-break, en/em and thin spaces, the
# ideographic space. A tab stays a tab.
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")


def normalise_text(text: str) -> str:
    """`text` in NFC without invisible characters, its Unicode spaces made ASCII spaces.

    Line ends are kept, so line-based steps (noise-line removal, `--segmentation lines`) see
    the same lines. Same length or shorter; idempotent.
    """
    return unicodedata.normalize("NFC", _SPACES.sub(" ", _INVISIBLE.sub("", text)))


def matching_key(text: str) -> str:
    """The form two texts are compared in: normalised, whitespace runs collapsed, ends stripped."""
    return " ".join(normalise_text(text).split())
