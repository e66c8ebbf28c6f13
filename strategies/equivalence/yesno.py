"""Yes/no: yes, no, true, false, correct, incorrect, in English and Japanese (はい/いいえ).

>>> m = YesNoMatcher()
>>> [m.key(t).canonical for t in ["Yes.", "No, it is not.", "True", "Not true"]]
['yes', 'no', 'yes', 'no']
>>> [m.key(t).canonical for t in ["はい、そうです。", "いいえ", "正しくない"]]
['yes', 'no', 'no']
"""

from __future__ import annotations

import re

from strategies.equivalence import Key
from strategies.equivalence.text import normalize_text

__all__ = ["YesNoMatcher", "yes_or_no"]

_YES = frozenset({"yes", "yeah", "yep", "true", "correct", "right", "affirmative", "y"})
_NO = frozenset({"no", "nope", "false", "incorrect", "wrong", "negative", "n"})
# Longer forms first: 正しくない before 正しい.
_JA = [
    ("正しくない", "no"),
    ("間違い", "no"),
    ("誤り", "no"),
    ("違います", "no"),
    ("違う", "no"),
    ("いいえ", "no"),
    ("いえ", "no"),
    ("ううん", "no"),
    ("はい", "yes"),
    ("そうです", "yes"),
    ("正しい", "yes"),
    ("ええ", "yes"),
    ("うん", "yes"),
]
_ANSWER_IS = re.compile(r"\banswer (?:is )?(yes|no|true|false)\b")


def yes_or_no(text: str) -> str | None:
    norm = normalize_text(text)
    marked = _ANSWER_IS.search(norm)
    if marked:
        return "yes" if marked.group(1) in ("yes", "true") else "no"
    for prefix, verdict in _JA:
        if norm.startswith(prefix):
            return verdict
    words = norm.replace(",", " ").split()
    for i, word in enumerate(words[:3]):
        if word in _YES:
            return "no" if i > 0 and words[i - 1] == "not" else "yes"
        if word in _NO:
            return "no"
    return None


class YesNoMatcher:
    kind = "yesno"
    blocking = False

    def __init__(self, question: str = "") -> None:
        self.question = question

    def key(self, text: str) -> Key:
        verdict = yes_or_no(text)
        if verdict is None:
            return Key(canonical=normalize_text(text), extracted=False)
        return Key(canonical=verdict)

    def same(self, a: Key, b: Key) -> bool:
        return a.canonical == b.canonical and a.extracted == b.extracted
