"""The policy's shortcuts read exactly what its general walk reads (hypothesis).

- A message field that is a string is read as it is, without the walk over values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.sovereignty import policy
from orchestrator.sovereignty.policy import Forwarded, forwarded_texts
from orchestrator.types import Request


def walked(request: Request) -> Iterator[Forwarded]:
    """Every forwarded text, each message field through the general walk (the reference)."""
    for i, message in enumerate(request.messages):
        for key in type(message).model_fields:
            value = getattr(message, key)
            if key != "role" and value is not None:
                yield from policy._leaves(f"messages[{i}].{key}", policy._plain(value), i, keys=False)
    yield from policy._leaves("params", request.params, None, keys=True)


texts = st.text(max_size=20)
parts = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": texts}), max_size=3)
tool_calls = st.lists(
    st.fixed_dictionaries(
        {
            "id": texts,
            "type": st.just("function"),
            "function": st.fixed_dictionaries({"name": texts, "arguments": texts}),
        }
    ),
    max_size=2,
)
messages = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool"])},
    optional={
        "content": st.one_of(st.none(), texts, parts),
        "name": texts,
        "tool_calls": tool_calls,
        "tool_call_id": texts,
    },
)
params = st.dictionaries(st.sampled_from(["stop", "temperature", "user"]), st.one_of(texts, st.integers()))


@settings(max_examples=300, deadline=None)
@given(st.lists(messages, min_size=1, max_size=4), params)
def test_forwarded_texts_are_those_of_the_general_walk(
    raw: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    request = Request(messages=raw, params=extra)  # type: ignore[arg-type]
    assert list(forwarded_texts(request)) == list(walked(request))
