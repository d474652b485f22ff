"""Divergent spans: the words of one English side that have no counterpart on the other.

Two sides of an aligned pair are compared word by word: words in the longest common
subsequence have a counterpart, and so does a word the other side uses anywhere (outlets
reorder). What is left, in runs, is what one side adds: an editorial aside, a clause, a
figure. Runs are trimmed to content words; runs of function words alone are not reported.
"""

from __future__ import annotations

import difflib
import functools
import re

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
FUNCTION_WORDS = frozenset(
    """a an the and or but of to in on at by for with from as that this these those it its is are
    was were be been being has have had not no also which who whom whose than then there their
    they he she his her we our you your i""".split()
)


@functools.lru_cache(maxsize=1 << 16)
def _normal(word: str) -> str:
    """Lower case, with a plural or possessive ending dropped, so "troops" meets "troop"."""
    word = word.lower().replace("’", "'")
    for ending in ("'s", "s"):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            return word[: -len(ending)]
    return word


def divergent_ranges(
    text_a: str, text_b: str
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Runs of words only in `text_a`, and only in `text_b`, in reading order, each as the
    character range [start, end) it spans in its text (punctuation between its words included)."""
    found_a, normal_a = _words(text_a)
    found_b, normal_b = _words(text_b)
    other_a, other_b = set(normal_b), set(normal_a)
    # A content word has a counterpart exactly when the other side has it: a side whose content
    # words all do has no run, whatever the common subsequence (most linked pairs, one side).
    lacking_a = not other_b.issubset(other_a | FUNCTION_WORDS)
    lacking_b = not other_a.issubset(other_b | FUNCTION_WORDS)
    matched_a, matched_b = set(), set()
    # Only a function word's place in the common subsequence can split a run, and only between
    # two content words that lack a counterpart: most pairs have no such place, and are done
    # without the subsequence (which is most of the cost).
    if (lacking_a and _splittable(normal_a, other_a)) or (
        lacking_b and _splittable(normal_b, other_b)
    ):
        matcher = difflib.SequenceMatcher(None, normal_a, normal_b, autojunk=False)
        for block in matcher.get_matching_blocks():
            matched_a.update(range(block.a, block.a + block.size))
            matched_b.update(range(block.b, block.b + block.size))
    return (
        _runs(found_a, normal_a, matched_a, other_a) if lacking_a else [],
        _runs(found_b, normal_b, matched_b, other_b) if lacking_b else [],
    )


def _splittable(normal: tuple[str, ...], other: set[str]) -> bool:
    """Whether two content words without a counterpart (not in `other`) have only function
    words between them, one of which `other` has: one that may be in the common subsequence."""
    between_open = False  # after a content word without a counterpart, only function words since
    other_function_word = False
    for word in normal:
        if word not in FUNCTION_WORDS:
            if word not in other:
                if between_open and other_function_word:
                    return True
                between_open = True
            else:
                between_open = False
            other_function_word = False
        elif word in other:
            other_function_word = True
    return False


def divergent_spans(text_a: str, text_b: str) -> tuple[list[str], list[str]]:
    """Runs of words only in `text_a`, and only in `text_b`, each as it stands in its text."""
    ranges_a, ranges_b = divergent_ranges(text_a, text_b)
    return [text_a[s:e] for s, e in ranges_a], [text_b[s:e] for s, e in ranges_b]


# A sentence is compared with each sentence it is linked to: its words are found once.
@functools.lru_cache(maxsize=1 << 14)
def _words(text: str) -> tuple[tuple[tuple[int, int], ...], tuple[str, ...]]:
    """The words of `text`: each one's character range, and its _normal() form."""
    found = list(WORD.finditer(text))
    return tuple(m.span() for m in found), tuple(_normal(m.group()) for m in found)


def _runs(
    words: tuple[tuple[int, int], ...],
    normal: tuple[str, ...],
    matched: set[int],
    other: set[str],
) -> list[tuple[int, int]]:
    def has_counterpart(index: int) -> bool:
        # A function word found somewhere in the other side says nothing: only its place in
        # the common subsequence counts.
        if index in matched:
            return True
        return normal[index] in other and normal[index] not in FUNCTION_WORDS

    runs, current = [], []
    for index in range(len(words)):
        if has_counterpart(index):
            runs.append(current)
            current = []
        else:
            current.append(index)
    runs.append(current)
    ranges = []
    for run in runs:
        content = [i for i in run if normal[i] not in FUNCTION_WORDS]
        if content:  # trimmed to start and end on a content word
            ranges.append((words[content[0]][0], words[content[-1]][1]))
    return ranges
