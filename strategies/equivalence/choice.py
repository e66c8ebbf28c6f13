"""Multiple choice: the option letter an answer picks.

"B", "(B)", "b)", "Answer: b", "The correct option is B) Paris", "正解は(B)"
all pick ``B``. When the question lists its options ("A) Paris" lines, or
"(A) Paris (B) Lyon" inline), an answer that names an option's text picks its
letter, and letters the question does not offer are ignored.

>>> m = ChoiceMatcher("Capital of France?\\nA) Lyon\\nB) Paris\\nC) Nice")
>>> [m.key(t).canonical for t in ["B", "(b)", "Answer: b", "The correct option is B) Paris", "Paris"]]
['B', 'B', 'B', 'B', 'B']
"""

from __future__ import annotations

import functools
import re
import unicodedata

from strategies.equivalence import Key
from strategies.equivalence.text import normalize_text

__all__ = ["ChoiceMatcher", "options_in"]

_LINE_OPTION = re.compile(r"^\s*[(\[]?([A-Ja-j])[)\].:：]\s*(.+?)\s*$", re.MULTILINE)
_INLINE_OPTION = re.compile(r"\(([A-J])\)\s*([^()\n]+?)(?=\s*\([A-J]\)|\s*$|\n)")
_EXPLICIT = re.compile(
    r"(?:answer|option|choice|正解|答え|解答)\s*(?:is|:|：|は|=)?\s*(?:option\s*|choice\s*)?"
    r"[(\[]?([A-Ja-j])([)\].:：,。]|\s*$|\s+[-–—]|\s|です|だ)",
    re.IGNORECASE,
)
_LEADING = re.compile(r"^[(\[]?([A-Ja-j])([)\].:：,]|\s*$|\s+[-–—])")
_PAREN = re.compile(r"[(\[]([A-J])[)\]]")


def options_in(question: str) -> dict[str, str]:
    """The options a question lists, by letter: ``{"A": "Lyon", "B": "Paris"}``, or empty."""
    return dict(_options(question))


@functools.lru_cache(maxsize=256)
def _options(question: str) -> tuple[tuple[str, str], ...]:
    """Cached: a tally asks again, for the same question, as each answer arrives."""
    text = unicodedata.normalize("NFKC", question)
    found = {letter.upper(): body for letter, body in _LINE_OPTION.findall(text)}
    if len(found) < 2:
        found = {letter: body for letter, body in _INLINE_OPTION.findall(text)}
    letters = sorted(found)
    if len(letters) < 2 or letters[0] != "A" or "".join(letters) != "ABCDEFGHIJ"[: len(letters)]:
        return ()
    return tuple(found.items())


class ChoiceMatcher:
    """Keys answers by the option letter they pick."""

    kind = "choice"
    blocking = False

    def __init__(self, question: str = "") -> None:
        self.options = options_in(question)
        self._texts = {letter: normalize_text(body) for letter, body in self.options.items()}

    def letter(self, text: str) -> str | None:
        text = unicodedata.normalize("NFKC", text).replace("**", "").strip()
        for pattern in (_EXPLICIT, _LEADING):
            for match in pattern.finditer(text):
                letter, after = match.group(1), match.group(2)
                if after.isspace() and letter.islower():
                    continue  # "the answer is a city": an article, not option A
                if self._offered(letter.upper()):
                    return letter.upper()
        named = self._named(text)
        if named is not None:
            return named
        parens = {m.upper() for m in _PAREN.findall(text) if self._offered(m.upper())}
        return parens.pop() if len(parens) == 1 else None

    def _offered(self, letter: str) -> bool:
        return not self.options or letter in self.options

    def _named(self, text: str) -> str | None:
        if not self._texts:
            return None
        norm = normalize_text(text)
        exact = [letter for letter, body in self._texts.items() if body and body == norm]
        if len(exact) == 1:
            return exact[0]
        named = [
            letter
            for letter, body in self._texts.items()
            if body and re.search(rf"(?:^|\s){re.escape(body)}(?:$|\s)", norm)
        ]
        return named[0] if len(named) == 1 else None

    def key(self, text: str) -> Key:
        letter = self.letter(text)
        if letter is None:
            return Key(canonical=normalize_text(text), extracted=False)
        return Key(canonical=letter)

    def same(self, a: Key, b: Key) -> bool:
        return a.canonical == b.canonical and a.extracted == b.extracted
