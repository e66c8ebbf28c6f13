"""Extraction and equivalence of answers, so a vote counts what answers *say*.

``answer_key`` maps a raw answer to a canonical key for its answer type;
``cluster`` groups candidates whose answers are equivalent. Equivalence is
symmetric and clustering is independent of the order of the answers.

>>> answer_key("The answer is 1,000.", "number")
'1000'
>>> answer_key("Yes, it is.", "yesno")
'yes'
>>> [c.answer for c in cluster(["Paris", "The capital of France is Paris.", "Lyon"])]
['Paris', 'Lyon']
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from typing import Literal

from orchestrator.types import Cluster

__all__ = ["AnswerType", "answer_key", "cluster", "equivalent", "infer_type", "normalize_text"]

AnswerType = Literal["auto", "number", "choice", "yesno", "text", "code", "json"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_LEADS = re.compile(
    r"^(?:final answer|the (?:final |correct )?answer is|answer|a|答え|回答)\s*[:：]?\s*", re.IGNORECASE
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_YES = {"yes", "true", "correct", "はい", "正しい", "そうです"}
_NO = {"no", "false", "incorrect", "いいえ", "違います", "間違い"}
_STOPWORDS = {"is", "of", "in", "it", "its", "and", "to", "was", "are", "be", "this", "that"}


def normalize_text(text: str) -> str:
    """Case, width, punctuation, articles and answer lead-ins folded away."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = text.replace("**", "").strip("`\"' ")
    text = _LEADS.sub("", text)
    text = re.sub(r"[^\w\s.%/-]", " ", text)
    text = text.rstrip(".").replace(". ", " ")
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _number(text: str) -> str | None:
    text = unicodedata.normalize("NFKC", text)
    marked = re.search(r"####\s*(\S+)|\\boxed\{([^}]*)\}|answer is\s*\$?([-\d.,/]+)", text, re.IGNORECASE)
    candidates = [g for g in marked.groups() if g] if marked else _NUMBER.findall(text)
    if not candidates:
        return None
    raw = candidates[-1].replace(",", "").rstrip(".")
    try:
        value = Fraction(raw)
    except (ValueError, ZeroDivisionError):
        return None
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _yesno(text: str) -> str | None:
    words = normalize_text(text).replace(",", " ").split()
    for word in words[:3]:
        if word in _YES:
            return "yes"
        if word in _NO:
            return "no"
    return None


def _choice(text: str) -> str | None:
    match = re.search(r"(?:^|answer\s*(?:is)?\s*:?\s*|option\s+)\(?([A-Ea-e])\)?(?:[).:\s]|$)", text.strip())
    return match.group(1).upper() if match else None


def infer_type(texts: Sequence[str]) -> AnswerType:
    """The type most answers look like: number, yes/no, or free text."""
    votes: Counter[str] = Counter()
    for text in texts:
        norm = normalize_text(text)
        if _yesno(text) is not None and len(norm.split()) <= 6:
            votes["yesno"] += 1
        elif _number(text) is not None and len(norm.split()) <= 12:
            votes["number"] += 1
        else:
            votes["text"] += 1
    if not votes:
        return "text"
    kind, _ = max(votes.items(), key=lambda kv: (kv[1], kv[0] == "text"))
    return kind  # type: ignore[return-value]


def answer_key(text: str, answer_type: AnswerType = "text") -> str:
    """A canonical key: equal keys mean equivalent answers."""
    extract = {"number": _number, "yesno": _yesno, "choice": _choice}.get(answer_type)
    if extract is not None:
        key = extract(text)
        if key is not None:
            return key
    return normalize_text(text)


def equivalent(a: str, b: str, answer_type: AnswerType = "text") -> bool:
    """Whether two answers say the same: equal keys, or (free text) one short answer inside the other."""
    ka, kb = answer_key(a, answer_type), answer_key(b, answer_type)
    if ka == kb:
        return True
    if answer_type != "text":
        return False
    return _contains(ka, kb) or _contains(kb, ka)


def _contains(short: str, long: str) -> bool:
    words = short.split()
    content = [w for w in words if w not in _STOPWORDS]
    if not content or len(words) > 3 or len(long.split()) > 16:
        return False
    return re.search(rf"(?:^|\s){re.escape(short)}(?:$|\s)", long) is not None


def cluster(
    texts: Sequence[str],
    weights: Sequence[float] | None = None,
    answer_type: AnswerType = "auto",
    members: Sequence[str] | None = None,
) -> list[Cluster]:
    """Group equivalent answers; heaviest cluster first, ties broken by the answer itself."""
    kind = infer_type(texts) if answer_type == "auto" else answer_type
    weights = list(weights) if weights is not None else [1.0] * len(texts)
    members = list(members) if members is not None else [str(i) for i in range(len(texts))]
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if equivalent(texts[i], texts[j], kind):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(texts)):
        groups.setdefault(root(i), []).append(i)
    clusters = [
        Cluster(
            answer=_representative([texts[i] for i in idx]),
            members=[members[i] for i in idx],
            indices=idx,
            weight=sum(weights[i] for i in idx),
        )
        for idx in groups.values()
    ]
    clusters.sort(key=lambda c: (-c.weight, -len(c.indices), answer_key(c.answer, kind), c.answer))
    return clusters


def _representative(texts: list[str]) -> str:
    """The most common wording, then the shortest, then the first in sort order."""
    counts = Counter(t.strip() for t in texts)
    return min(counts, key=lambda t: (-counts[t], len(t), t))
