"""Yes/no, in English and Japanese: what the answer's first clause (or its stated answer) says.

Affirmations ("yes", "Y", "Absolutely.", "Of course!", "That's right", "はい", "その通りです") are yes;
negations ("no", "N", "Not at all.", "I don't think so.", "いいえ", "そうではありません",
"必要ありません") are no, and a negation anywhere in the first clause turns an affirmation into no
("It is not true."). A marker ("The answer is no", "Answer: Yes", "答えは「はい」") wins over the
first clause. Hedges ("Yes and no, it depends", "maybe", "場合による") and answers that only repeat
the options ("Y or N", "yes/no") get no key.

>>> m = YesNoMatcher()
>>> [m.key(t).canonical for t in ["Yes.", "No, it is not.", "True", "Not true", "Of course!"]]
['yes', 'no', 'yes', 'no', 'yes']
>>> [m.key(t).canonical for t in ["はい、そうです。", "いいえ", "正しくない", "必要ありません。"]]
['yes', 'no', 'no', 'no']
>>> m.key("Yes and no: it depends.").extracted
False
"""

from __future__ import annotations

import re
import unicodedata

from strategies.equivalence import Key
from strategies.equivalence.text import normalize_text

__all__ = ["YesNoMatcher", "yes_or_no"]

_YES_WORDS = (
    r"yes|yeah|yep|yup|yea|y|true|correct|right|affirmative|sure|certainly|absolutely|definitely|indeed"
    r"|of course"
)
_NO_WORDS = r"no|nope|nah|n|false|incorrect|wrong|negative|never|not at all|not really"
_NEGATION = re.compile(r"\b(?:not|n't|never|no longer|hardly)\b|n't\b")
_HEDGE = re.compile(
    r"\byes and no\b|\bno and yes\b|\bit depends\b|\bdepends on\b|\bmaybe\b|\bperhaps\b|\bpossibly\b"
    r"|\bsometimes\b"
    r"|\bpartly\b|\bpartially\b|\bnot sure\b|\bunclear\b|\bnot necessarily\b|\bcan't say\b|\bcannot say\b"
    r"|場合による|場合によ|一概に|どちらとも|かもしれ|わかりません|分かりません"
)
_ECHO = re.compile(
    rf"\b(?:{_YES_WORDS})\s*(?:or|/)\s*(?:{_NO_WORDS})\b|\b(?:{_NO_WORDS})\s*(?:or|/)\s*(?:{_YES_WORDS})\b"
    r"|はい\s*(?:か|/|・|または)\s*いいえ|いいえ\s*(?:か|/|・|または)\s*はい"
)
_MARKED = re.compile(
    rf"(?:final answer|answer)\s*(?:is|[:：=])?\s*[\"'“「*]*\s*(?P<word>{_YES_WORDS}|{_NO_WORDS})\b"
    r"|答えは\s*[「『]?\s*(?P<ja>はい|いいえ)"
)
_LEADING = re.compile(rf"^[\"'“「*(]*\s*(?P<word>{_YES_WORDS}|{_NO_WORDS})(?![\w'])")
_CLAUSE = re.compile(r"[,.;:!?—–\-、。！？\n]|\bbut\b")
_EN_YES = re.compile(r"\b(?:it is|that is|that's|it's|this is|you are|you're)\s+(?:true|correct|right|so)\b")
_EN_NO = re.compile(
    r"\bi (?:don't|do not) think so\b|\bnot at all\b|\bof course not\b|\bcertainly not\b"
    r"|\b(?:it|that|this) (?:is|'s) (?:false|incorrect|wrong)\b"
    r"|^(?:it|that|this|he|she|they|there) (?:isn't|is not|aren't|are not|wasn't|was not|doesn't"
    r"|does not|don't|do not|didn't|did not|can't|cannot|won't|will not)$"
)
# Japanese: the start of the answer, then the end of its first clause. Longer forms first.
_JA_START = [
    ("いいえ", "no"),
    ("いえ", "no"),
    ("ううん", "no"),
    ("違います", "no"),
    ("違う", "no"),
    ("はい", "yes"),
    ("ええ", "yes"),
    ("うん", "yes"),
    ("その通り", "yes"),
]
_JA_NO = re.compile(
    r"(?:ではありません|じゃありません|ではない|じゃない|ありません|ません|ないです|ない|違います|違う|誤り|間違い"
    r"|正しくない|正しくありません)(?:です|でした)?[よね]?$"
)
_JA_YES = re.compile(r"^(?:そうです|そのとおり|その通り|正しい|正解|合って|あります|できます|必要です)")


def _verdict(word: str) -> str:
    return "yes" if re.fullmatch(_YES_WORDS, word) else "no"


def yes_or_no(text: str) -> str | None:
    """``"yes"``, ``"no"``, or None when the answer does not say which with confidence."""
    raw = unicodedata.normalize("NFKC", text).strip().lower().replace("’", "'")
    if not raw:
        return None
    if _ECHO.search(raw) or _HEDGE.search(raw[:200]):
        return None
    marks = list(_MARKED.finditer(raw))
    if marks:
        last = marks[-1]
        if last.group("ja"):
            return "yes" if last.group("ja") == "はい" else "no"
        return _verdict(last.group("word"))
    first = _CLAUSE.split(raw.replace("**", ""), maxsplit=1)[0].strip()
    for prefix, verdict in _JA_START:
        if first.startswith(prefix):
            return verdict
    if _EN_NO.search(first):
        return "no"
    leading = _LEADING.match(first)
    if leading is not None:
        verdict = _verdict(leading.group("word"))
        rest = first[leading.end() :]
        return "no" if verdict == "yes" and _NEGATION.search(rest) else verdict
    if _EN_YES.search(first):
        return "no" if _NEGATION.search(first) else "yes"
    if re.search(rf"\b(?:{_YES_WORDS})\b", first) and _NEGATION.search(first) and len(first.split()) <= 6:
        return "no"  # "It is not true", "That isn't correct"
    if _JA_NO.search(first):
        return "no"
    if _JA_YES.match(first):
        return "yes"
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
