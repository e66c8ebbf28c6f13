"""Extraction and equivalence of answers, so a vote counts what answers *say*.

An answer type (``auto``, ``number``, ``choice``, ``yesno``, ``text``, ``code``,
``json``) picks a matcher from :mod:`strategies.equivalence`; ``auto`` infers
the type from the question and the answers. ``answer_key`` maps one answer to
its canonical form, ``equivalent`` compares two, ``cluster`` groups many.
Equivalence is symmetric, and clustering (connected groups of equivalent
answers) does not depend on the order of the answers.

>>> answer_key("The answer is 1,000.", "number")
'1000'
>>> answer_key("Yes, it is.", "yesno")
'yes'
>>> equivalent(r"\\frac{1}{2}", "0.5", "number")
True
>>> [c.answer for c in cluster(["Paris", "The capital of France is Paris.", "Lyon"])]
['Paris', 'Lyon']
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator.types import Cluster, assembled
from strategies.equivalence import Key, Matcher
from strategies.equivalence.choice import ChoiceMatcher, options_in
from strategies.equivalence.code import CodeMatcher
from strategies.equivalence.jsondata import JsonMatcher, canonical_json, extract_json
from strategies.equivalence.number import NumberMatcher, extract_number
from strategies.equivalence.text import Embedder, TextMatcher, TextMethod, normalize_text
from strategies.equivalence.yesno import yes_or_no

__all__ = [
    "AnswerSettings",
    "AnswerType",
    "Key",
    "Matcher",
    "answer_key",
    "answers_type",
    "cluster",
    "cluster_keys",
    "equivalent",
    "infer_type",
    "matcher_for",
    "normalize_text",
    "question_type",
    "tool_call_key",
]

AnswerType = Literal["auto", "number", "choice", "yesno", "text", "code", "json"]


@dataclass
class AnswerSettings:
    """How answers are compared: the type, and the knobs of the text and code matchers.

    ``embedder`` defaults to the process's shared embedding model (loaded once, on first use).
    """

    answer_type: AnswerType = "auto"
    text_match: TextMethod = "auto"
    text_threshold: float | None = None
    tests: str | None = None
    test_timeout_s: float = 5.0
    embedder: Embedder | None = field(default=None, repr=False)


def _looks_like_code(text: str) -> bool:
    if "```" in text:
        return True
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    structural = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom
    return any(isinstance(node, structural) for node in tree.body)


def _looks_like_json(text: str) -> bool:
    try:
        return isinstance(extract_json(text), dict | list)
    except ValueError:
        return False


def infer_type(texts: Sequence[str], question: str = "") -> AnswerType:
    """The type of the answers: from the question when it says (options listed or "which of the
    following": choice; arithmetic or a word problem: number; a yes/no question: yes/no), else what
    most answers look like (json, code, yes/no, number, else free text). Counts, so the order of the
    answers does not matter.

    >>> infer_type(["24", "42", "The answer is 42."], "What is six times seven?")
    'number'
    >>> infer_type(["Yes.", "No"], "Is Paris the capital of France?")
    'yesno'
    """
    asked = question_type(question)
    if asked is not None:
        return asked
    return answers_type(texts, question)


def answers_type(texts: Sequence[str], question: str = "") -> AnswerType:
    """:func:`infer_type` once the question has not said: what most answers look like."""
    if not texts:
        return "text"
    majority = len(texts) / 2
    if options_in(question):
        picker = ChoiceMatcher(question)
        if sum(picker.letter(t) is not None for t in texts) > majority:
            return "choice"
    traits = [_traits(t) for t in texts]
    if sum(t[0] for t in traits) > majority:
        return "json"
    if sum(t[1] for t in traits) > majority:
        return "code"
    votes = Counter(t[2] for t in traits)
    kind, _ = max(votes.items(), key=lambda kv: (kv[1], kv[0] == "text", kv[0]))
    return kind  # type: ignore[return-value]


_NUMBER_WORDS = (
    r"zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    r"|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|half"
)
_OPERAND = rf"(?:-?\d[\d,.]*|{_NUMBER_WORDS})"
_OPERATOR = r"(?:[-+*/×÷^x]|times|plus|minus|divided by|multiplied by|over|to the power of)"
# Arithmetic in the asking sentence: "six times seven", "12 squared", "the sum of 3 and 4". Only
# whether it is there is read, so the three forms share their start: a word boundary, then a digit,
# "-", or the first letter of a number word or of "square root", "cube root", "sum", "product",
# "difference", "quotient" (the look-ahead lets the engine pass every other position at once).
_ARITHMETIC = re.compile(
    rf"\b(?=[-\dzotfsenhcpdq])(?:{_OPERAND}(?:\s*{_OPERATOR}\s*{_OPERAND}\b|\s+(?:squared|cubed)\b)"
    rf"|(?:square root|cube root|sum|product|difference|quotient) of\s+{_OPERAND})",
    re.IGNORECASE,
)
_QUANTITY_EN = (
    r"\bhow (?:many|much|long|far|old|fast|tall|heavy)\b"
    r"|\b(?:calculate|compute|evaluate|solve for|what percent(?:age)?)\b"
)
_QUANTITY_JA = (
    r"いくつ|何個|何人|何円|何本|何枚|何冊|何匹|何台|何回|何歳|何分|何時間|何日"
    r"|何キロ|何メートル|何パーセント|何割|いくら|計算|合計"
)
# A question for a quantity. As with _ARITHMETIC only whether it is found is read, so a look-ahead
# for the forms' first characters lets the engine pass every other position at once.
_QUANTITY = re.compile(rf"(?=[hcesw何い計合])(?:{_QUANTITY_EN}|{_QUANTITY_JA})", re.IGNORECASE)
_YESNO_EN = re.compile(
    r"^(?:is|are|was|were|am|do|does|did|can|could|will|would|should|shall|has|have|had|may|might|must"
    r"|isn't|aren't|wasn't|weren't|don't|doesn't|didn't|can't|couldn't|won't|wouldn't|shouldn't|hasn't|haven't)\b",
    re.IGNORECASE,
)
_REQUEST = re.compile(r"^(?:can|could|would|will|do|won't) you\b|.*\bplease\b", re.IGNORECASE)
_WH = re.compile(r"\b(?:what|which|who|whom|whose|where|when|why|how)\b", re.IGNORECASE)
_YESNO_JA = re.compile(r"(?:ですか|ますか|でしょうか|ませんか|のか|か)[?？]?\s*$")
_WH_JA = re.compile(
    r"何|なに|なん|どこ|誰|だれ|いつ|どう|なぜ|どれ|どの|どちら|どんな|いくつ|いくら|どのくらい"
)
_WHICH_OF = re.compile(
    r"\bwhich of the following\b|次のうち|次の中から|どれか|選べ|選びなさい", re.IGNORECASE
)


def question_type(question: str) -> AnswerType | None:
    """The answer type a question asks for, when it says: choice, number or yes/no (else None).

    >>> [question_type(q) for q in ["What is six times seven?", "Is it raining?", "東京は日本の首都ですか？"]]
    ['number', 'yesno', 'yesno']
    """
    last = _last_sentence(question)
    if not last:
        return None
    options = options_in(question)
    if options and (_WHICH_OF.search(question) or len(options) >= 2):
        return "choice"
    if _ARITHMETIC.search(last) or _QUANTITY.search(last):
        return "number"
    if _YESNO_EN.match(last) and not _REQUEST.match(last) and not re.search(r"\bor\b", last, re.IGNORECASE):
        return "yesno"
    if (
        re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", last)
        and _YESNO_JA.search(last)
        and not _WH_JA.search(last)
    ):
        return "yesno" if not re.search(r"か、|かそれとも|または", last) else None
    return None


_SENTENCE_END = re.compile(r"(?<=[.!。])\s*")


def _last_sentence(question: str) -> str:
    """The sentence that asks: the last line or sentence with a question mark, else the last line."""
    lines = [line.strip() for line in question.strip().splitlines() if line.strip()]
    asking = [line for line in lines if line.endswith(("?", "？", "か", "か。"))]
    line = asking[-1] if asking else (lines[-1] if lines else "")
    parts = _SENTENCE_END.split(line)
    return next((p for p in reversed(parts) if p.strip()), line).strip()


@functools.lru_cache(maxsize=4096)
def _traits(text: str) -> tuple[bool, bool, str]:
    """What one answer looks like: JSON?, code?, and its scalar kind (yesno, number or text).

    Cached: a tally infers the type again as each answer arrives, over the same texts. Only the end
    of a long answer is read for a number (the type guess stays cheap; the key reads all of it).
    """
    words = len(normalize_text(text).split())
    if yes_or_no(text) is not None and words <= 6:
        scalar = "yesno"
    elif (words <= 12 or _has_marker(text)) and extract_number(text[-1500:]) is not None:
        scalar = "number"
    else:
        scalar = "text"
    return _looks_like_json(text), _looks_like_code(text), scalar


def _has_marker(text: str) -> bool:
    lowered = text.lower()
    return any(m in lowered for m in ("####", "\\boxed", "answer is", "answer:", "答えは"))


def matcher_for(
    answer_type: AnswerType,
    question: str = "",
    texts: Sequence[str] = (),
    settings: AnswerSettings | None = None,
) -> Matcher:
    """The matcher for a type (``auto`` resolved from the question and the answers)."""
    settings = settings or AnswerSettings()
    kind = infer_type(texts, question) if answer_type == "auto" else answer_type
    if kind == "number":
        return NumberMatcher(question)
    if kind == "choice":
        return ChoiceMatcher(question)
    if kind == "yesno":
        from strategies.equivalence.yesno import YesNoMatcher

        return YesNoMatcher(question)
    if kind == "json":
        return JsonMatcher(question)
    if kind == "code":
        return CodeMatcher(question, settings.tests, settings.test_timeout_s)
    return TextMatcher(settings.text_match, settings.text_threshold, settings.embedder, question)


def answer_key(text: str, answer_type: AnswerType = "text", question: str = "") -> str:
    """A canonical form: answers with equal keys are equivalent."""
    return matcher_for(answer_type, question, [text]).key(text).canonical


def equivalent(a: str, b: str, answer_type: AnswerType = "text", question: str = "", **settings: Any) -> bool:
    """Whether two answers say the same thing (symmetric)."""
    matcher = matcher_for(answer_type, question, [a, b], AnswerSettings(**settings))
    return matcher.same(matcher.key(a), matcher.key(b))


def tool_call_key(tool_calls: Sequence[dict[str, Any]]) -> str:
    """Tool calls in a canonical form: sorted (function name, canonical arguments) pairs."""
    calls = []
    for call in tool_calls:
        function = call.get("function", call)
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                arguments = " ".join(arguments.split())
        calls.append(f"{function.get('name', '')}({canonical_json(arguments)})")
    return "; ".join(sorted(calls))


def cluster_keys(
    keys: Sequence[Key],
    same: Callable[[Key, Key], bool],
    texts: Sequence[str],
    weights: Sequence[float],
    members: Sequence[str],
) -> list[Cluster]:
    """Connected groups of equivalent keys; heaviest first, ties broken by the canonical key."""
    if len(keys) == 1:  # a lone answer (a member asked directly): its own cluster, nothing to compare
        return [
            assembled(
                Cluster,
                answer=texts[0].strip(),
                members=[members[0]],
                indices=[0],
                weight=sum(weights[:1]),
                key=keys[0].canonical,
            )
        ]
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    n = len(keys)
    for i in range(n):
        top = root(i)  # only a union below moves it (to the root it joins)
        for j in range(i + 1, n):
            other = root(j)
            if top != other and same(keys[i], keys[j]):
                parent[top] = top = other
    groups: dict[int, list[int]] = {}
    for i in range(len(keys)):
        groups.setdefault(root(i), []).append(i)
    clusters = [
        assembled(  # from validated parts: the answers' texts, members, weights and keys
            Cluster,
            answer=_representative([texts[i] for i in idx]),
            members=[members[i] for i in idx],
            indices=idx,
            weight=sum(weights[i] for i in idx),
            key=min(keys[i].canonical for i in idx),
        )
        for idx in groups.values()
    ]
    clusters.sort(key=lambda c: (-c.weight, -len(c.indices), c.key or "", c.answer))
    return clusters


def cluster(
    texts: Sequence[str],
    weights: Sequence[float] | None = None,
    answer_type: AnswerType = "auto",
    members: Sequence[str] | None = None,
    question: str = "",
    settings: AnswerSettings | None = None,
) -> list[Cluster]:
    """Group equivalent answers; heaviest cluster first."""
    matcher = matcher_for(answer_type, question, texts, settings)
    keys = [matcher.key(t) for t in texts]
    return cluster_keys(
        keys,
        matcher.same,
        texts,
        list(weights) if weights is not None else [1.0] * len(texts),
        list(members) if members is not None else [str(i) for i in range(len(texts))],
    )


def _representative(texts: list[str]) -> str:
    """The most common wording, then the shortest, then the first in sort order."""
    first = texts[0]
    if all(text == first for text in texts):  # one wording (a lone answer, a unanimous one)
        return first.strip()
    counts = Counter(t.strip() for t in texts)
    return min(counts, key=lambda t: (-counts[t], len(t), t))
