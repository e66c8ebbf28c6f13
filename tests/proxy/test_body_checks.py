"""parse_json skips the walk over every string when the raw body cannot hold a lone surrogate and
counts too few brackets to nest too deep: the answer must be the walk's, whatever the body."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.proxy.errors import ApiError
from orchestrator.proxy.limits import MAX_DEPTH, _check_values, parse_json

# Text with lone surrogates, Hangul (UTF-8 lead byte 0xED, like a surrogate's) and escapes.
_text = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\ud800", "\udfff", "\udbff", "\ud7ff", "\ue000", "한", "\\", '"', "u"]),
    ),
    max_size=12,
).map("".join)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=40,
)


def _nested(depth: int, leaf: Any) -> Any:
    """``leaf`` inside ``depth`` arrays and objects."""
    for i in range(depth):
        leaf = [leaf] if i % 2 else {"k": leaf}
    return leaf


def _code_of(check: Callable[[Any], object], value: Any) -> str | None:
    """The error code ``check(value)`` refuses with, or None."""
    try:
        check(value)
    except ApiError as exc:
        return exc.code
    return None


@given(_values, st.sampled_from(["ascii", "utf-8", "raw-utf-8", "utf-16", "utf-32"]))
def test_the_quick_checks_agree_with_the_walk(value: Any, how: str) -> None:
    if how == "raw-utf-8":  # surrogates as bytes (json.loads reads them with surrogatepass)
        raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    elif how == "ascii":
        raw = json.dumps(value).encode()
    else:
        try:
            raw = json.dumps(value, ensure_ascii=False).encode(how)
        except UnicodeEncodeError:
            raw = json.dumps(value).encode(how)
    assert _code_of(parse_json, raw) == _code_of(_check_values, json.loads(raw))


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 3 * MAX_DEPTH])
@pytest.mark.parametrize("wide", [False, True])
def test_depth_is_checked_exactly_at_the_limit(depth: int, wide: bool) -> None:
    value = _nested(depth, "x")
    if wide:  # enough brackets elsewhere that the count alone cannot clear the body
        value = {"deep": value, "wide": [[1]] * MAX_DEPTH}
    raw = json.dumps(value).encode()
    expected = "invalid_json" if depth + wide > MAX_DEPTH else None
    assert _code_of(_check_values, value) == expected
    assert _code_of(parse_json, raw) == expected


def test_a_surrogate_is_named_where_it_is() -> None:
    with pytest.raises(ApiError) as caught:
        parse_json(b'{"messages": [{"role": "user", "content": "\\uDa00 x"}]}')
    assert caught.value.code == "invalid_unicode"
    assert caught.value.param == "messages.0.content"
