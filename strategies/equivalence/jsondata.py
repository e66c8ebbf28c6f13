"""JSON: equal when the parsed values are (key order, spacing, ``1`` vs ``1.0`` do not matter).

The JSON is the answer itself, a fenced ```json block in it, or the first
balanced object or array in it.

>>> m = JsonMatcher()
>>> m.key('{"b": 1.0, "a": [1, 2]}').canonical == m.key('Here: ```json\\n{"a":[1,2],"b":1}\\n```').canonical
True
"""

from __future__ import annotations

import json
import re
from typing import Any

from strategies.equivalence import Key
from strategies.equivalence.text import normalize_text

__all__ = ["JsonMatcher", "canonical_json", "extract_json"]

_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(_integral(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _balanced(text: str) -> str | None:
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    try:
        _, end = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return None
    return text[start : start + end]


def extract_json(text: str) -> Any:
    """The JSON value in ``text``; raises ``ValueError`` when there is none."""
    for candidate in (text.strip(), *_FENCE.findall(text), _balanced(text)):
        if candidate:
            try:
                return json.loads(candidate)
            except ValueError:
                continue
    raise ValueError("no JSON value found")


class JsonMatcher:
    kind = "json"
    blocking = False

    def __init__(self, question: str = "") -> None:
        self.question = question

    def key(self, text: str) -> Key:
        try:
            return Key(canonical=canonical_json(extract_json(text)))
        except ValueError:
            return Key(canonical=normalize_text(text), extracted=False)

    def same(self, a: Key, b: Key) -> bool:
        return a.canonical == b.canonical and a.extracted == b.extracted
