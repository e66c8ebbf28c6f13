"""The policy sees every field a request forwards: a secret in any of them keeps it from excluded members.

Every *slot* below puts a secret in one field that reaches a member (message fields of every role,
tool calls and results, tool definitions, ``tool_choice``, ``stop``, ``response_format`` schemas,
``logit_bias``, any param a library caller passes). Under every strategy kind, a request carrying it
must never reach the cloud member that ``[policy.confidential]`` excludes; the same request with a
harmless word in the slot does reach it, so each case can fail.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import Field

from orchestrator.config import parse_config
from orchestrator.engine import Orchestrator
from orchestrator.errors import PolicyError, ShoalError, UsageError
from orchestrator.protocols import StreamDelta
from orchestrator.registry import Registry
from orchestrator.types import Call, Completion, Request
from providers.scripted import ScriptedProvider
from tests.helpers import scripted_toml
from tests.unit.test_policy import KIND_OPTIONS, _strategy_table

AWS_KEY = "AKIAZ7Q3LK2M9XB4RT8W"  # the shape of an AWS access key id; not a real one
HARMLESS = "harmless"
QUESTION = "What is six times seven?"

MEMBERS: dict[str, dict[str, Any]] = {
    "cloud": {"answers": ["42"], "locality": "cloud", "vendor": "openai"},
    "local-a": {"answers": ["42"], "locality": "local"},
    "local-b": {"answers": ["42"], "locality": "local"},
    "spare": {"answers": ["42"], "locality": "local"},
}
EXCLUDED = {"cloud"}
POLICY = """
[teams.t]
members = ["cloud", "local-a", "local-b"]
fallbacks = ["spare"]

[policy.confidential]
allow = ["locality:local"]
"""

Messages = list[dict[str, Any]]
Params = dict[str, Any]


def _tool(description: str = "Multiply two numbers", **function: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"a": {"type": "number", "description": "a factor"}}}
    return {
        "type": "function",
        "function": {"name": "multiply", "description": description, "parameters": schema, **function},
    }


def _called(arguments: str = '{"a": 6}', name: str = "multiply", call_id: str = "call_1") -> Messages:
    """A history where the assistant called a tool and the tool answered."""
    return [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "42"},
        {"role": "user", "content": QUESTION},
    ]


def _schema_with(secret: str) -> dict[str, Any]:
    properties = {"answer": {"type": "string", "description": f"the answer, e.g. {secret}"}}
    return {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object", "properties": properties}},
    }


def _tool_result(secret: str) -> Messages:
    history = _called()
    history[2]["content"] = f"lookup returned {secret}"
    return history


def _with_text_parts(secret: str) -> Messages:
    parts = [{"type": "text", "text": QUESTION}, {"type": "text", "text": f"context: {secret}"}]
    return [{"role": "user", "content": parts}]


# Each slot: the secret (or a harmless word) -> the request's messages and params.
SLOTS: dict[str, Callable[[str], tuple[Messages, Params]]] = {
    "user.content": lambda s: ([{"role": "user", "content": f"{QUESTION} My key: {s}"}], {}),
    "user.content[].text": lambda s: (_with_text_parts(s), {}),
    "system.content": lambda s: (
        [{"role": "system", "content": f"key {s}"}, {"role": "user", "content": QUESTION}],
        {},
    ),
    "developer.content": lambda s: (
        [{"role": "developer", "content": s}, {"role": "user", "content": QUESTION}],
        {},
    ),
    "user.name": lambda s: ([{"role": "user", "name": s, "content": QUESTION}], {}),
    "assistant.content": lambda s: (
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": f"use {s}"},
            {"role": "user", "content": QUESTION},
        ],
        {},
    ),
    "assistant.tool_calls.arguments": lambda s: (_called(arguments=json.dumps({"key": s})), {}),
    "assistant.tool_calls.function.name": lambda s: (_called(name=s), {}),
    "assistant.tool_calls.id": lambda s: (_called(call_id=s), {}),
    "tool.content": lambda s: (_tool_result(s), {}),
    "tools.function.description": lambda s: (
        [{"role": "user", "content": QUESTION}],
        {"tools": [_tool(f"uses {s}")]},
    ),
    "tools.function.name": lambda s: ([{"role": "user", "content": QUESTION}], {"tools": [_tool(name=s)]}),
    "tools.function.parameters": lambda s: (
        [{"role": "user", "content": QUESTION}],
        {"tools": [_tool(parameters={"type": "object", "properties": {"k": {"enum": [s]}}})]},
    ),
    "tool_choice": lambda s: (
        [{"role": "user", "content": QUESTION}],
        {"tools": [_tool()], "tool_choice": {"type": "function", "function": {"name": s}}},
    ),
    "stop (string)": lambda s: ([{"role": "user", "content": QUESTION}], {"stop": s}),
    "stop (list)": lambda s: ([{"role": "user", "content": QUESTION}], {"stop": ["\n\n", s]}),
    "response_format.json_schema": lambda s: (
        [{"role": "user", "content": QUESTION}],
        {"response_format": _schema_with(s)},
    ),
    "logit_bias key": lambda s: ([{"role": "user", "content": QUESTION}], {"logit_bias": {s: 1.0}}),
    "reasoning_effort": lambda s: ([{"role": "user", "content": QUESTION}], {"reasoning_effort": s}),
    "any param (nested)": lambda s: (
        [{"role": "user", "content": QUESTION}],
        {"metadata": {"note": [f"x {s}"]}},
    ),
}


class Recorder:
    """Scripted members that record what every call carried, per member (complete and stream)."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {}
        recorder = self

        class Recording(ScriptedProvider):
            def _note(self, call: Call) -> None:
                wire = json.dumps({"messages": call.messages, "params": call.params}, default=str)
                recorder.seen.setdefault(self.member.name, []).append(wire)

            async def complete(self, call: Call) -> Completion:
                self._note(call)
                return await super().complete(call)

            async def stream(self, call: Call) -> AsyncIterator[StreamDelta]:
                self._note(call)
                async for delta in super().stream(call):
                    yield delta

        self.registry = Registry({"provider": {"scripted": Recording}})

    def orchestrator(self, kind: str, named: str) -> Orchestrator:
        extra = POLICY + _strategy_table(kind, named, 1)
        if (
            kind == "treesearch"
        ):  # two writers, one of them cloud; the seed makes both write in the first batch
            extra = extra.replace(
                'kind = "treesearch"', f'kind = "treesearch"\nmembers = ["cloud", "{named}"]'
            )
        config = parse_config(scripted_toml({k: dict(v) for k, v in MEMBERS.items()}, extra), source="t.toml")
        return Orchestrator(config, registry=self.registry)


def _ask(kind: str, named: str, messages: Messages, params: Params) -> tuple[Recorder, ShoalError | None]:
    recorder = Recorder()
    try:
        recorder.orchestrator(kind, named).run_sync(messages, strategy="s", params=params)
    except ShoalError as exc:
        return recorder, exc
    return recorder, None


def _leaks(recorder: Recorder) -> dict[str, int]:
    return {name: len(calls) for name, calls in recorder.seen.items() if name in EXCLUDED and calls}


KINDS = sorted(Registry().names("strategy"))


def test_every_strategy_kind_is_covered() -> None:
    assert set(KINDS) <= set(KIND_OPTIONS), "add the new strategy kind to KIND_OPTIONS in test_policy.py"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("slot", list(SLOTS))
def test_a_secret_in_any_forwarded_field_never_reaches_an_excluded_member(slot: str, kind: str) -> None:
    named = "cloud" if kind == "single" else "local-a"  # a single strategy asks only the one it names
    messages, params = SLOTS[slot](HARMLESS)
    control, error = _ask(kind, named, messages, params)
    assert error is None, error
    assert "cloud" in control.seen, "without the secret the cloud member takes part, so a leak would show"

    messages, params = SLOTS[slot](AWS_KEY)
    recorder, error = _ask(kind, named, messages, params)
    assert _leaks(recorder) == {}, f"{slot} reached the excluded member under {kind}"
    assert error is None or isinstance(error, PolicyError), error
    assert any(AWS_KEY in wire for calls in recorder.seen.values() for wire in calls) or error is not None


@pytest.mark.parametrize("slot", list(SLOTS))
def test_asking_the_excluded_member_by_name_with_a_secret_anywhere_is_refused(slot: str) -> None:
    messages, params = SLOTS[slot](AWS_KEY)
    recorder, error = _ask("single", "cloud", messages, params)
    assert isinstance(error, PolicyError) and recorder.seen == {}


# -- generated requests ---------------------------------------------------------------------

_words = st.text(st.sampled_from("abcdefghij klmnop,.?"), max_size=30)


@st.composite
def placed(draw: st.DrawFn) -> tuple[str, str, Messages, Params]:
    """A request with the secret in a drawn slot, words around it, and unrelated history before it."""
    slot = draw(st.sampled_from(list(SLOTS)))
    secret = draw(_words) + " " + AWS_KEY + " " + draw(_words)
    messages, params = SLOTS[slot](secret.strip())
    history = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["user", "assistant", "system"]),
                    "content": _words.map(lambda w: w or "ok"),
                }
            ),
            max_size=3,
        )
    )
    extra_params = draw(
        st.dictionaries(st.sampled_from(["temperature", "top_p", "seed"]), st.integers(0, 1), max_size=2)
    )
    return slot, draw(st.sampled_from(KINDS)), [*history, *messages], {**extra_params, **params}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placed(), st.sampled_from(["local-a", "cloud"]))
def test_generated_requests_with_a_secret_never_reach_an_excluded_member(
    case: tuple[str, str, Messages, Params], named: str
) -> None:
    slot, kind, messages, params = case
    recorder, error = _ask(kind, named, messages, params)
    outcome = "refused" if isinstance(error, PolicyError) else "answered" if error is None else "failed"
    event(f"{kind}: {outcome}")
    assert _leaks(recorder) == {}, (slot, kind, named)
    if isinstance(error, PolicyError):
        assert recorder.seen == {}, "a refusal comes before any call"
    assert not isinstance(error, UsageError), error


def test_unknown_message_fields_and_part_keys_are_dropped_before_any_member_sees_them() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": QUESTION, "cache_control": {"k": AWS_KEY}}]},
        {
            "role": "assistant",
            "content": "42",
            "refusal": AWS_KEY,
            "audio": {"id": AWS_KEY},
            "x_vendor": AWS_KEY,
        },
        {"role": "user", "content": QUESTION, "metadata": {"k": AWS_KEY}},
    ]
    request = Request.of(messages)
    assert AWS_KEY not in json.dumps(request.wire_messages())
    recorder, error = _ask("vote", "local-a", messages, {})
    assert error is None and "cloud" in recorder.seen  # not confidential: the key was never forwarded
    assert not any(AWS_KEY in wire for calls in recorder.seen.values() for wire in calls)


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": f"https://example.com/i.png?k={AWS_KEY}"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"file_data": "AAAA"}},
        {"type": "refusal", "refusal": AWS_KEY},
    ],
)
def test_a_content_part_the_policy_cannot_read_is_refused_before_anything_is_sent(
    part: dict[str, Any],
) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": QUESTION}, part]}]
    recorder, error = _ask("vote", "local-a", messages, {})
    assert isinstance(error, UsageError) and recorder.seen == {}
    assert f"content part type {part['type']!r} is not forwarded" in str(error)


def test_a_secret_held_by_a_key_that_names_it_is_found_in_params() -> None:
    from orchestrator.sovereignty.policy import Policy

    request = Request.of(QUESTION, params={"metadata": {"db_password": "Hn7kd92xq"}})
    (found,) = Policy().clear(request).findings
    assert (found.field, found.finding.kind, found.message) == (
        "params.metadata.db_password",
        "password",
        None,
    )


def test_a_field_added_to_the_request_is_read_by_the_policy_unless_declared_not_forwarded() -> None:
    from orchestrator.sovereignty.policy import NOT_FORWARDED, forwarded_texts

    class WithInputs(Request):
        inputs: list[str] = Field(default_factory=list)

    request = WithInputs.model_validate({"messages": [{"role": "user", "content": "q"}], "inputs": [AWS_KEY]})
    assert ("inputs[0]", AWS_KEY) in [(p.path, p.text) for p in forwarded_texts(request)]
    assert NOT_FORWARDED == {"tags", "request_id"}
