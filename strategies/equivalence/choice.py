r"""Multiple choice: the option an answer picks, by its label.

Labels are letters (A-J), or, when the question lists them, kana (ア イ ウ エ / あ い う え), circled
numbers (① ② ③) or Roman numerals (I II III IV). The final stated answer wins: the last of
"Answer: B", "the correct answer is B", ``\boxed{B}``, ``$B$``, ``**B**``, "Answer - B", "回答：C",
"答えはBです", "正解は(B)", "C です", "選択肢Cが正しい", and the answer prefixes of other languages
("Antwort: B", "Respuesta: B", "답변: B", "الإجابة: ب", with Arabic and Bengali option letters read as
A-D); else, when the question lists its options, the last choice stated at the end of a sentence and
not negated ("I'd go with D.", "It's C.", "so C.", "A is correct"); else an answer that starts with a
label and names no other ("B", "(B)", "B) Paris"); else the option whose text the answer names
("Paris" picks B) without a negation. Labels the question does not offer are ignored; an answer that
names two options without choosing one gets no key.

>>> m = ChoiceMatcher("Capital of France?\nA) Lyon\nB) Paris\nC) Nice")
>>> [m.key(t).canonical for t in ["B", "(b)", "Answer: b", "The correct option is B) Paris", "Paris"]]
['B', 'B', 'B', 'B', 'B']
>>> m.key("Option A is wrong: Lyon is not the capital. Answer: B").canonical
'B'
"""

from __future__ import annotations

import functools
import re
import unicodedata

from strategies.equivalence import Key
from strategies.equivalence.text import normalize_text

__all__ = ["ChoiceMatcher", "options_in"]

_LETTERS = "ABCDEFGHIJ"
_KANA = ("アイウエオカキクケコ", "あいうえおかきくけこ")
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
# NFKC turns circled numbers into digits: keep them apart as private-use characters while reading.
_PROTECT = str.maketrans({c: chr(0xE000 + i) for i, c in enumerate(_CIRCLED)})
_RESTORE = str.maketrans({chr(0xE000 + i): c for i, c in enumerate(_CIRCLED)})
_LABEL = r"[A-Ja-j]|III|II|IV|VIII|VII|VI|IX|[IVX]|[アイウエオカキクケコあいうえおかきくけこ]|[\ue000-\ue009]"
_LINE_OPTION = re.compile(
    rf"^\s*[(\[（]?({_LABEL})[)\]）.:：、,]?\s+(.+?)\s*$|^\s*[(\[（]?({_LABEL})[)\]）.:：、]\s*(.+?)\s*$",
    re.M,
)
_INLINE_OPTION = re.compile(
    rf"(?:\(({_LABEL})\)|([\ue000-\ue009]))\s*([^()\n\ue000-\ue009]+?)(?=\s*\((?:{_LABEL})\)|\s*[\ue000-\ue009]|\s*$|\n)"
)
_FOREIGN_MARKERS = "|".join(
    [
        "antwort",
        "respuesta",
        "risposta",
        "réponse",
        "reponse",
        "resposta",
        "jawaban",
        "jibu",
        "ответ",
        "답변",
        "정답",
        "답",
        "উত্তর",
        "उत्तर",
        "الإجابة النهائية",
        "الإجابة الصحيحة هي",
        "الإجابة الصحيحة",
        "الإجابة هي",
        "الإجابة",
        "الجواب النهائي",
        "الجواب",
        "إجابة",
        "idahun",
        "ìdáhùn",
        "idáhùn",
        "àdáhùn",
        "คำตอบ",
        "సమాధానం",
    ]
)
# Option letters written in another script after an answer marker (simple-evals' normalize_extracted_answer).
_SCRIPT_LETTERS = {"أ": "A", "ب": "B", "ج": "C", "د": "D", "অ": "A", "ব": "B", "ড": "C", "ঢ": "D"}
_SCRIPT_LETTER = re.compile(r"([:：ঃ]\s*)([أبجدঅবডঢ])(?!\w)")
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff]")
# A choice stated without an answer marker, at the end of a sentence: "I'd go with D.", "It's C.", "so C."
_STATED = (
    r"(?:\b(?:go(?:ing)?|went)\s+with|\b(?:choose|chose|pick|picked|select|selected)|\bopt\s+for"
    r"|\bmy\s+(?:pick|choice|vote|guess)\s+(?:is|would\s+be)|\bit\s*['’]?s|\bit\s+is|\bthat\s*['’]?s"
    r"|\bthat\s+is|\bso)\s+(?:(?:option|choice)\s+)?"
)
_DECLARED = r"\s+is\s+(?:the\s+)?(?:correct|right|true|best)(?:\s+(?:answer|option|choice|one))?"
_NEGATED = re.compile(r"(?:\bnot|n['’]t|\bnever|\bif|\bwhether|\bunless)\s+(?:\w+\s+)?$", re.IGNORECASE)
_NEGATION = re.compile(r"\bnot\b|n['’]t\b|\bnever\b|\bno\b|ではな|じゃな|ない|違", re.IGNORECASE)
_OPEN, _CLOSE = r"[(\[（「]?\s*\$?\s*(?:\\text\s*\{\s*)?\(?\s*", r"\s*\)?\s*\}?\s*\$?\s*[)\]）」]?"
_MARKER = (
    r"(?:final\s+answer|correct\s+answer|answer|(?:correct|right|best)\s+(?:option|choice|one)|best\s+answer"
    r"|回答|答え|正解|解答|答案|答复|答曰|答"
    # the answer prefixes of other languages (simple-evals' MULTILINGUAL_ANSWER_REGEXES, MGSM's prefixes)
    rf"|(?:{_FOREIGN_MARKERS})(?=\s*[:：ঃ])"
    r")(?:\*\*)?"
)
_VERB = r"\s*(?:is|would\s+be|should\s+be|[:：ঃ=\-–—]|は|が)?\s*(?:option\s+|choice\s+|選択肢\s*)?"


@functools.lru_cache(maxsize=256)
def _options(question: str) -> tuple[tuple[str, str], ...]:
    """The options a question lists, as (label, text); cached (a tally asks again per answer)."""
    text = unicodedata.normalize("NFKC", question.translate(_PROTECT))
    for found in (_line_options(text), _inline_options(text)):
        labels = [label for label, _ in found]
        if len(labels) >= 2 and _is_sequence(labels):
            return tuple((label.translate(_RESTORE), body) for label, body in found)
    return ()


def _line_options(text: str) -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for m in _LINE_OPTION.finditer(text):
        label, body = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        label = label.upper() if label in "abcdefghij" else label
        found.setdefault(label, body)
    return list(found.items())


def _inline_options(text: str) -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for m in _INLINE_OPTION.finditer(text):
        found.setdefault(m.group(1) or m.group(2), m.group(3).strip())
    return list(found.items())


def _is_sequence(labels: list[str]) -> bool:
    protected = "".join(chr(0xE000 + i) for i in range(10))
    for system in (list(_LETTERS), list(_KANA[0]), list(_KANA[1]), list(protected), list(_ROMAN)):
        if labels == system[: len(labels)]:
            return True
    return False


def options_in(question: str) -> dict[str, str]:
    """The options a question lists, by label: ``{"A": "Lyon", "B": "Paris"}``, or empty."""
    return dict(_options(question))


class ChoiceMatcher:
    """Keys answers by the option label they pick."""

    kind = "choice"
    blocking = False

    def __init__(self, question: str = "") -> None:
        self.options = options_in(question)
        self._texts = {label: normalize_text(body) for label, body in self.options.items()}
        labels = list(self.options) or list(_LETTERS)
        alternation = "|".join(
            re.escape(label.translate(_PROTECT)) for label in sorted(labels, key=len, reverse=True)
        )
        lower = "|".join(label.lower() for label in labels if label in _LETTERS)
        label = rf"(?P<label>{alternation}{'|' + lower if lower else ''})"
        end = r"(?=$|[\s)\]）」}.,:：;、。!?*$]|です|だ|が|は|を|\\)"
        self._explicit = [
            re.compile(rf"{_MARKER}{_VERB}{_OPEN}(?:\*\*)?{label}(?:\*\*)?{_CLOSE}{end}", re.IGNORECASE),
            re.compile(rf"\\boxed\s*\{{\s*(?:\\text\s*\{{\s*)?\(?{label}\)?\s*\}}"),
            re.compile(rf"選択肢\s*{label}{end}"),
            re.compile(rf"(?:^|[\s(（「*])\(?{label}\)?\s*(?:です|が正しい|が正解|が答え){end}"),
        ]
        # weaker statements, only where the question lists its options; a negation or a condition just
        # before one ("I would not choose A", "if A is correct") makes it no statement
        self._stated = (
            [
                re.compile(rf"{_STATED}{_OPEN}{label}{_CLOSE}(?=\s*(?:[.!。]|$))", re.IGNORECASE),
                re.compile(
                    rf"(?:^|(?<=[\s(（「*]))\(?{label}\)?{_DECLARED}\b(?!\s*(?:if|only|when)\b)",
                    re.IGNORECASE,
                ),
            ]
            if self.options
            else []
        )
        self._leading = re.compile(
            rf"^\s*(?:\*\*)?[(\[（]?\s*{label}\s*(?:\*\*)?(?:[)\]）.:：,、]|\s*$|\s+[-–—])"
        )
        self._paren = re.compile(rf"[(\[（]({alternation})[)\]）]")

    def letter(self, text: str) -> str | None:
        """The label the answer picks, or None."""
        text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text).translate(_PROTECT))
        text = text.replace("**", "").strip()
        if self.options.keys() <= set(_LETTERS):
            text = _SCRIPT_LETTER.sub(lambda m: m.group(1) + _SCRIPT_LETTERS[m.group(2)], text)
        # an answer marker wins over a plain statement ("Answer: B. Some say it's D." is B)
        for patterns, stated in ((self._explicit, False), (self._stated, True)):
            best = self._last(text, patterns, stated)
            if best is not None:
                return best
        parens = {self._offered(p) for p in self._paren.findall(text)} - {None}
        leading = self._leading.match(text)
        if leading is not None:
            picked = self._offered(leading.group("label"))
            if picked is not None and parens <= {picked}:  # "(A) gluon ..., (C) the weak": no choice made
                return picked
            if picked is not None:
                return None
        named = self._named(text)
        if named is not None:
            return named
        return parens.pop() if len(parens) == 1 else None

    def _last(self, text: str, patterns: list[re.Pattern[str]], stated: bool) -> str | None:
        """The offered label of the last match of any of ``patterns``."""
        best: tuple[int, str] | None = None
        for pattern in patterns:
            for m in pattern.finditer(text):
                label = m.group("label")
                if label in "abcdefghij" and text[m.end("label") : m.end("label") + 1] == " ":
                    continue  # "the answer is a city": an article, not option A
                if stated and _NEGATED.search(text, max(0, m.start() - 24), m.start()):
                    continue
                picked = self._offered(label)
                if picked is not None and (best is None or m.start("label") > best[0]):
                    best = (m.start("label"), picked)
        return None if best is None else best[1]

    def _offered(self, label: str) -> str | None:
        label = label.translate(_RESTORE)
        label = label.upper() if label in "abcdefghij" else label
        if self.options:
            return label if label in self.options else None
        return label if label in _LETTERS else None

    def _named(self, text: str) -> str | None:
        if not self._texts:
            return None
        norm = normalize_text(text.translate(_RESTORE))
        exact = [label for label, body in self._texts.items() if body and body == norm]
        if len(exact) == 1:
            return exact[0]
        if _NEGATION.search(text) or len({self._offered(p) for p in self._paren.findall(text)} - {None}) > 1:
            return None  # "Not (C): the W boson ...": naming an option is not choosing it
        named = [
            label
            for label, body in self._texts.items()
            if body and re.search(rf"(?:^|\s|(?<=\W)){re.escape(body)}(?:$|\s|(?=\W))", norm)
        ]
        if len(named) == 1:
            return named[0]
        spaced = [
            label for label, body in self._texts.items() if body and not body.isascii() and body in norm
        ]
        return spaced[0] if len(spaced) == 1 else None

    def key(self, text: str) -> Key:
        label = self.letter(text)
        if label is None:
            return Key(canonical=normalize_text(text), extracted=False)
        return Key(canonical=label)

    def same(self, a: Key, b: Key) -> bool:
        return a.canonical == b.canonical and a.extracted == b.extracted
