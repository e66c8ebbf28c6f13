"""The surfaces' conversions into the engine request, and the stream check, without a server."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.proxy.catalog import Target
from orchestrator.proxy.errors import ApiError
from orchestrator.proxy.streaming import Sent, StreamReport, _ending
from orchestrator.proxy.surfaces.base import Plan
from orchestrator.proxy.surfaces.chat import ChatEncoder, parse, plan
from orchestrator.proxy.surfaces.messages import AnthropicMessage, _messages
from orchestrator.proxy.surfaces.responses_input import input_messages
from orchestrator.types import Verdict

CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
MEMBER = Target("m", "member", "m", "x")


def test_responses_items_become_chat_messages() -> None:
    items = [
        {"role": "user", "content": "hi"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Let me check."}],
        },
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"}]},
    ]
    messages = [m.model_dump(exclude_none=True) for m in input_messages(items)]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert messages[1]["content"] == "Let me check."
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["c1", "c2"]
    assert messages[3] == {"role": "tool", "tool_call_id": "c2", "content": "two"}
    with pytest.raises(ApiError, match="reasoning"):
        input_messages([{"type": "reasoning", "summary": []}])


def test_anthropic_blocks_become_chat_messages() -> None:
    assistant = AnthropicMessage(
        role="assistant",
        content=[
            {"type": "thinking", "thinking": "hm", "signature": "s"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
        ],
    )
    user = AnthropicMessage(
        role="user",
        content=[
            {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
            {"type": "text", "text": "and?"},
        ],
    )
    said = [m.model_dump(exclude_none=True) for m in _messages(assistant, 0)]
    assert said == [
        {
            "role": "assistant",
            "content": "Let me check.",  # the thinking block is dropped, never replayed
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
            ],
        }
    ]
    replied = [m.model_dump(exclude_none=True) for m in _messages(user, 1)]
    assert replied == [
        {"role": "tool", "tool_call_id": "t1", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "and?"}]},
    ]
    with pytest.raises(ApiError, match="document"):
        _messages(AnthropicMessage(role="user", content=[{"type": "document", "source": {}}]), 0)


async def test_streamed_tool_calls_that_differ_from_the_verdict_end_in_an_error() -> None:
    chat = parse({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True})
    planned: Plan = plan(chat, MEMBER)
    verdict = Verdict(answer="Let me check.", confidence=1.0, strategy="single", tool_calls=[CALL])

    async def done() -> Verdict:
        return verdict

    task = asyncio.ensure_future(done())
    await task
    same = Sent(text=["Let me ", "check."], pieces=[{"index": 0, **CALL}])
    report = StreamReport()
    ok = await _ending(task, same, ChatEncoder("c", 0, planned), report, MEMBER)
    sent_out = b"".join(ok)
    # the calls already went out piece by piece: the end repeats neither them nor the text
    assert report.status == 200 and b'"finish_reason":"tool_calls"' in sent_out
    assert b'"tool_calls":[' not in sent_out and b"Let me" not in sent_out
    other = Sent(
        text=["Let me check."],
        pieces=[{"index": 0, "id": "c1", "function": {"name": "g", "arguments": "{}"}}],
    )
    report = StreamReport()
    failed = await _ending(task, other, ChatEncoder("c", 0, planned), report, MEMBER)
    assert report.status == 502 and b"stream_diverged" in b"".join(failed)
