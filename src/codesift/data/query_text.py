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


def fit_query(text: str, min_tokens: int, max_tokens: int) -> str | None:
    """The cleaned text, cut to its first `max_tokens` tokens when longer; None when shorter than `min_tokens`."""
    text = clean_query(text)
    if token_count(text) > max_tokens:
        text = " ".join(WORD.findall(text)[:max_tokens])
    return text if text and token_count(text) >= min_tokens else None
