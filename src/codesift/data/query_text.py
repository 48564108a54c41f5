"""A query's text as a person would type it, and its length in word and punctuation tokens (every pair type's
length limits count these)."""

from __future__ import annotations

import html
import re

URL = re.compile(r"https?://\S+|www\.\S+")
HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
WORD = re.compile(r"\w+|[^\w\s]")


def clean_query(text: str) -> str:
    """Strip URLs and HTML, collapse whitespace: queries should read like what a person types."""
    text = html.unescape(HTML_TAG.sub(" ", URL.sub(" ", text)))
    return " ".join(text.split())


def token_count(text: str) -> int:
    return len(WORD.findall(text))
