"""The error a decoder or reader raises for content it cannot turn into an article."""

from __future__ import annotations


class IngestError(ValueError):
    """The content of one input is unusable; the message is the reason a Reject records."""
