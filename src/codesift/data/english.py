"""Is a doc English? Drops only confident non-English verdicts on longer prose; short technical text stays."""

from __future__ import annotations

import re
from functools import cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# Languages docs in our sources are actually written in; a small set keeps short English from drifting to
# rare look-alikes (e.g. 'la', 'an') that the full 97-language model prefers for terse text.
CANDIDATES = ("en", "fr", "de", "es", "it", "pt", "nl", "pl", "cs", "sv", "tr", "ru", "uk", "zh", "ja", "ko", "vi")
MIN_CONFIDENCE = 0.9
MIN_CHARS = 40  # prose shorter than this is too little evidence ('Return x.', 'HTTP GET wrapper')
MIN_WORDS = 5
_WIDE_WEIGHT = 3  # a CJK character carries about a word, so it counts as 3 characters toward MIN_CHARS

_CODE_LINE = re.compile(r"^(?:[ \t]*(?:>>>|\.\.\.|\$ )| {4,}).*$", re.M)  # doctest, shell and indented example lines
_CODE_SPAN = re.compile(r"`[^`]*`|https?://\S+|\S*(?:[_=(){}\[\]<>]|::|->)\S*")  # inline code, URLs, identifiers
_WIDE = re.compile(r"[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


@cache
def _identifier() -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(CANDIDATES)
    return identifier


def is_english(doc: str) -> bool:
    """False only when the doc's prose is long enough and confidently identified as another language."""
    prose = " ".join(_CODE_SPAN.sub(" ", _CODE_LINE.sub("", doc)).split())
    wide = len(_WIDE.findall(prose))
    if len(prose) + (_WIDE_WEIGHT - 1) * wide < MIN_CHARS or (not wide and prose.count(" ") + 1 < MIN_WORDS):
        return True
    language, confidence = _identifier().classify(prose)
    return language == "en" or confidence < MIN_CONFIDENCE
