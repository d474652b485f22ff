"""Read a plain-text article: the decoded text is the article."""

from __future__ import annotations

from pipeline.records import Article, Reject


def read(article_id: str, text: str, source: str) -> list[Article | Reject]:
    """One article holding the text as it is."""
    return [Article(id=article_id, text=text, source=source)]
