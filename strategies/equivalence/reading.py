"""How a short name sounds: Japanese kana and kanji, and Latin letters, folded to one rough key.

``東京``, ``とうきょう``, ``トウキョウ`` and ``Tokyo`` all sound ``tokyo``;
``パリ`` and ``Paris`` meet once the silent final ``s`` is allowed. Kana are
read with a table; kanji need a reading dictionary (``janome``, the
``japanese`` extra, loaded on first use); without it a kanji name has no
reading and matches only itself. The fold is deliberately rough in one
direction only: it forgets vowel length, doubled consonants, the l/r and v/b
distinctions and the vowels Japanese adds between consonants, but two names
must still agree on every remaining sound.

>>> same_name("とうきょう", "Tokyo"), same_name("パリ", "Paris")
(True, True)
>>> same_name("ベルリン", "Berlin"), same_name("ベルン", "Berlin"), same_name("京都", "Tokyo")
(True, False, False)
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

__all__ = ["reading", "same_name", "sound", "sounds"]

_KANA = {
    **dict(zip("あいうえお", ["a", "i", "u", "e", "o"], strict=True)),
    **dict(zip("かきくけこ", ["ka", "ki", "ku", "ke", "ko"], strict=True)),
    **dict(zip("がぎぐげご", ["ga", "gi", "gu", "ge", "go"], strict=True)),
    **dict(zip("さしすせそ", ["sa", "si", "su", "se", "so"], strict=True)),
    **dict(zip("ざじずぜぞ", ["za", "zi", "zu", "ze", "zo"], strict=True)),
    **dict(zip("たちつてと", ["ta", "ti", "tu", "te", "to"], strict=True)),
    **dict(zip("だぢづでど", ["da", "zi", "zu", "de", "do"], strict=True)),
    **dict(zip("なにぬねの", ["na", "ni", "nu", "ne", "no"], strict=True)),
    **dict(zip("はひふへほ", ["ha", "hi", "hu", "he", "ho"], strict=True)),
    **dict(zip("ばびぶべぼ", ["ba", "bi", "bu", "be", "bo"], strict=True)),
    **dict(zip("ぱぴぷぺぽ", ["pa", "pi", "pu", "pe", "po"], strict=True)),
    **dict(zip("まみむめも", ["ma", "mi", "mu", "me", "mo"], strict=True)),
    **dict(zip("やゆよ", ["ya", "yu", "yo"], strict=True)),
    **dict(zip("らりるれろ", ["ra", "ri", "ru", "re", "ro"], strict=True)),
    **dict(zip("わゐゑを", ["wa", "i", "e", "o"], strict=True)),
    "ん": "n",
    "ゔ": "bu",
    **dict(zip("ぁぃぅぇぉ", ["a", "i", "u", "e", "o"], strict=True)),
}
_SMALL_Y = {"ゃ": "a", "ゅ": "u", "ょ": "o"}
_KANA_RUN = re.compile(r"^[\u3041-\u309f\u30a1-\u30ff・ー\s]+$")
_KANJI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff々]")
_LATIN = re.compile(r"^[a-z][a-z\s.'-]*$")


def _hiragana(text: str) -> str:
    return "".join(chr(ord(ch) - 0x60) if "\u30a1" <= ch <= "\u30f6" else ch for ch in text)


def _romaji(kana: str) -> str:
    out: list[str] = []
    double = False
    for ch in _hiragana(kana):
        if ch in "っッ":
            double = True
            continue
        if ch in _SMALL_Y and out and out[-1].endswith("i") and len(out[-1]) >= 2:
            syllable = out.pop()
            stem = syllable[:-1]
            out.append(stem + ("" if stem[-1] in "jy" else "y") + _SMALL_Y[ch])
            continue
        if ch == "ー" or ch in "・ \t":
            continue
        sound_of = _KANA.get(ch)
        if sound_of is None:
            return ""
        out.append(sound_of[0] + sound_of if double and sound_of[0] not in "aiueon" else sound_of)
        double = False
    return "".join(out)


@functools.cache
def _tokenizer() -> Any:
    from janome.tokenizer import Tokenizer

    return Tokenizer()


def _kanji_reading(text: str) -> str | None:
    try:
        tokenizer = _tokenizer()
    except ImportError:
        return None
    readings = []
    for token in tokenizer.tokenize(text):
        if token.reading in ("*", "") or not _KANA_RUN.match(token.reading):
            return None
        readings.append(token.reading)
    return "".join(readings)


@functools.lru_cache(maxsize=4096)
def reading(text: str) -> str | None:
    """The romaji of a short Japanese name (kana by table, kanji by dictionary), else None."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        return None
    if _KANJI.search(text):
        kana = _kanji_reading(text)
        if kana is None:
            return None
        text = kana
    if not _KANA_RUN.match(text):
        return None
    return _romaji(text) or None


_KANA_FOLDS = [  # the vowels Japanese adds after a consonant: Berlin ベルリン, Hamlet ハムレット
    (r"([^aiueon])u(?=[^aiueoy])", r"\1"),
    (r"([td])o(?=[^aiueoy])", r"\1"),
    (r"([^aiueon])u$", r"\1"),
    (r"([td])o$", r"\1"),
]
_FOLDS = [
    (r"ph", "f"),
    (r"th", "s"),
    (r"sh", "s"),
    (r"ch", "t"),
    (r"ts", "t"),
    (r"ck", "k"),
    (r"c(?=[eiy])", "s"),
    (r"[cq]", "k"),
    (r"x", "ks"),
    (r"j", "z"),
    (r"f", "h"),
    (r"l", "r"),
    (r"v", "b"),
    (r"ng(?=[^aiueoy]|$)", "n"),  # Washington: ワシントン
    (r"r(?=[^aiueoy]|$)", ""),  # non-rhotic: George ジョージ, Carter カーター
    (r"y(?=[^aiueo]|$)", "i"),
    (r"ou|oo", "o"),
    (r"uu", "u"),
    (r"ei", "e"),
    (r"aa", "a"),
    (r"ii", "i"),
    (r"(.)\1+", r"\1"),
]
_COMPILED_KANA = [(re.compile(p), r) for p, r in _KANA_FOLDS]
_COMPILED = [(re.compile(p), r) for p, r in _FOLDS]


def sound(text: str) -> str:
    """A rough sound key of a name written in kana, kanji (with the dictionary) or Latin letters."""
    return sounds(text)[0]


def sounds(text: str) -> tuple[str, ...]:
    """The sound keys of a name: one for Latin letters; for Japanese, as written and without the
    vowels Japanese adds after consonants (ロンドン is London as written, ハムレット Hamlet without)."""
    if _is_latin(text):
        return (_fold(re.sub(r"[^a-z]", "", _ascii(text)), _COMPILED),)
    spelled = reading(text) or ""
    return tuple(dict.fromkeys([_fold(spelled, _COMPILED), _fold(spelled, _COMPILED_KANA + _COMPILED)]))


def _fold(spelled: str, folds: list[tuple[re.Pattern[str], str]]) -> str:
    for pattern, replacement in folds:
        spelled = pattern.sub(replacement, spelled)
    return spelled


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().strip()


def same_name(a: str, b: str) -> bool:
    """Whether two short names written in different scripts (or kana/kanji) sound the same.

    Both must have a sound of at least three letters; Latin may end in a silent
    ``s``, ``t``, ``d`` or ``x`` the kana lacks (Paris, パリ).
    """
    for x in sounds(a):
        for y in sounds(b):
            if len(x) < 3 or len(y) < 3:
                continue
            if x == y:
                return True
            if _is_latin(a) and x[-1] in "stdx" and x[:-1] == y:
                return True
            if _is_latin(b) and y[-1] in "stdx" and y[:-1] == x:
                return True
    return False


def _is_latin(text: str) -> bool:
    """Latin letters only (accents allowed), no other script."""
    stripped = unicodedata.normalize("NFKC", text).strip()
    return (
        bool(stripped)
        and _LATIN.match(_ascii(stripped)) is not None
        and len(_ascii(stripped))
        >= len(re.sub(r"[\u0300-\u036f]", "", unicodedata.normalize("NFKD", stripped.lower())))
    )
