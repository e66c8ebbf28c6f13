"""``GET /v1/responses/{id}/input_items`` through the ``openai`` SDK's ``client.responses.input_items``
(its pages and auto-pagination), every body validated against OpenAI's ``ResponseItemList`` schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conformance.conftest import TEXT
from tests.conformance.openai import validate
from tests.proxy.servers import FakeUpstream, Served

QUESTION = "What is the weather in Paris?"
TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def client(served: Served) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=served.base_url, api_key="unused", max_retries=0, timeout=20) as client:
        yield client


def _raw(served: Served, response_id: str, **query: Any) -> httpx.Response:
    return httpx.get(f"{served.base_url}/responses/{response_id}/input_items", params=query, timeout=10)


def _listed(served: Served, response_id: str, **query: Any) -> dict[str, Any]:
    answer = _raw(served, response_id, **query)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    validate("ResponseItemList", body)
    return body


def test_a_string_input_is_listed_as_one_user_message(client: openai.OpenAI, served: Served) -> None:
    done = client.responses.create(model="shoal/vote", input="What is six times seven?")
    page = client.responses.input_items.list(done.id)
    assert [(i.type, i.role) for i in page.data] == [("message", "user")]  # type: ignore[union-attr]
    item = page.data[0]
    assert item.content[0].type == "input_text" and item.content[0].text == "What is six times seven?"  # type: ignore[union-attr]
    body = _listed(served, done.id)
    assert body["object"] == "list" and body["has_more"] is False
    assert body["first_id"] == body["last_id"] == body["data"][0]["id"] == item.id
    # the same through the routes without the /v1 prefix
    bare = httpx.get(f"{served.root}/responses/{done.id}/input_items", timeout=10)
    assert bare.json() == body


def _round_trip(client: openai.OpenAI, model: str) -> tuple[Any, Any]:
    first = client.responses.create(
        model=model,
        instructions="Be brief.",
        input=[{"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}],
        tools=[TOOL],  # type: ignore[list-item]
    )
    call = first.output[1]
    assert call.type == "function_call"
    second = client.responses.create(
        model=model,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[TOOL],  # type: ignore[list-item]
    )
    return first, second


@pytest.mark.parametrize("model", ["agent", "shoal/agents"])
def test_a_continued_response_lists_what_it_carried_over_then_its_own_input(
    client: openai.OpenAI, served: Served, fresh: FakeUpstream, model: str
) -> None:
    first, second = _round_trip(client, model)
    oldest_first = _listed(served, second.id, order="asc")["data"]
    kinds = [(i["type"], i.get("role")) for i in oldest_first]
    assert kinds == [
        ("message", "user"),  # the first response's input
        ("message", "assistant"),  # its output, with the ids it was given
        ("function_call", None),
        ("function_call_output", None),  # the second's own input
    ]
    assert [i["id"] for i in oldest_first[1:3]] == [o.id for o in first.output]
    assert oldest_first[1]["content"][0]["text"] == TEXT
    assert json.loads(oldest_first[2]["arguments"]) == {"city": "Paris"}
    assert oldest_first[3]["output"] == "sunny" and oldest_first[3]["call_id"] == first.output[1].call_id
    assert len({i["id"] for i in oldest_first}) == 4
    assert "Be brief." not in json.dumps(oldest_first)  # instructions are not input items
    assert _listed(served, second.id)["data"] == oldest_first[::-1]  # desc is the default
    first_items = client.responses.input_items.list(first.id, order="asc").data
    assert [i.id for i in first_items] == [oldest_first[0]["id"]]


def test_auto_pagination_walks_every_page_in_both_orders(client: openai.OpenAI, served: Served) -> None:
    _, second = _round_trip(client, "agent")
    every = [i.id for i in client.responses.input_items.list(second.id, order="asc")]
    assert len(every) == 4
    pages = list(client.responses.input_items.list(second.id, limit=1).iter_pages())
    assert [len(p.data) for p in pages] == [1, 1, 1, 1]
    assert [p.has_more for p in pages] == [True, True, True, False]
    assert [p.data[0].id for p in pages] == every[::-1]
    assert [i.id for i in client.responses.input_items.list(second.id, limit=3, order="asc")] == every
    page = _listed(served, second.id, order="asc", limit=2, after=every[0])
    assert [i["id"] for i in page["data"]] == every[1:3] and page["has_more"] is True
    assert (page["first_id"], page["last_id"]) == (every[1], every[2])
    before = _listed(served, second.id, order="asc", limit=2, before=every[3])
    assert [i["id"] for i in before["data"]] == every[1:3] and before["has_more"] is True
    past = _listed(served, second.id, after=every[0])  # desc: nothing comes after the oldest
    assert past["data"] == [] and past["has_more"] is False


async def test_the_async_client_pages_too(served: Served) -> None:
    async with openai.AsyncOpenAI(base_url=served.base_url, api_key="unused", max_retries=0) as client:
        done = await client.responses.create(
            model="shoal/vote",
            input=[
                {"role": "developer", "content": "Answer with a number."},
                {"role": "user", "content": "What is six times seven?"},
                {"role": "assistant", "content": "Shall I show my work?"},
                {"role": "user", "content": "No."},
            ],
        )
        ids = [item.id async for item in client.responses.input_items.list(done.id, limit=1, order="asc")]
    body = _listed(served, done.id, order="asc")
    assert ids == [i["id"] for i in body["data"]]
    assert [i["role"] for i in body["data"]] == ["developer", "user", "assistant", "user"]
    assert body["data"][2]["content"][0]["type"] == "output_text"


def test_a_streamed_response_lists_its_input(client: openai.OpenAI, served: Served) -> None:
    events = list(client.responses.create(model="agent", input=QUESTION, tools=[TOOL], stream=True))  # type: ignore[list-item]
    done = events[-1].response  # type: ignore[union-attr]
    [item] = client.responses.input_items.list(done.id).data
    assert item.content[0].text == QUESTION  # type: ignore[union-attr]


def test_unknown_or_unstored_responses_are_a_404(client: openai.OpenAI, served: Served) -> None:
    with pytest.raises(openai.NotFoundError, match="resp_missing"):
        client.responses.input_items.list("resp_missing")
    missing = _raw(served, "resp_missing")
    assert missing.status_code == 404
    validate("ErrorResponse", missing.json())
    unstored = client.responses.create(model="shoal/vote", input="What is six times seven?", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list(unstored.id)
    kept = client.responses.create(model="shoal/vote", input="What is six times seven?")
    client.responses.delete(kept.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list(kept.id)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"include": ["no.such.field"]}, "include"),
        ({"after": "msg_not_in_this_response"}, "after"),
        ({"before": "msg_not_in_this_response"}, "before"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(
    client: openai.OpenAI, served: Served, query: dict[str, Any], param: str
) -> None:
    done = client.responses.create(model="shoal/vote", input="What is six times seven?")
    answer = _raw(served, done.id, **query)
    assert answer.status_code == 400, answer.text
    validate("ErrorResponse", answer.json())
    assert answer.json()["error"]["param"] == param
    if param in ("limit", "order"):
        with pytest.raises(openai.BadRequestError, match=param):
            client.responses.input_items.list(done.id, **query)


def test_spec_includes_and_edge_limits_are_accepted(client: openai.OpenAI, served: Served) -> None:
    done = client.responses.create(model="shoal/vote", input="What is six times seven?")
    page = client.responses.input_items.list(
        done.id, include=["message.output_text.logprobs", "message.input_image.image_url"], limit=100
    )
    assert len(page.data) == 1
    assert len(_listed(served, done.id, limit=1)["data"]) == 1
