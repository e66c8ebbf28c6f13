"""Input items of a stored response: ids, the order and cursors of a page, and responses stored
before their input items were kept (read back from their messages)."""

from __future__ import annotations

import pytest

from orchestrator.proxy.errors import ApiError
from orchestrator.proxy.surfaces.responses import stored_input_items
from orchestrator.proxy.surfaces.responses_items import item_page, items_of_input
from tests.conformance.openai import validate

CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}


def test_a_response_stored_before_input_items_were_kept_lists_its_messages() -> None:
    stored = {
        "response": {"id": "resp_old", "output": []},
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "assistant", "content": "It is sunny."},  # its own output, not an input item
        ],
    }
    items = stored_input_items(stored)
    assert [i["type"] for i in items] == ["message", "message", "function_call", "function_call_output"]
    assert items[2]["call_id"] == "call_1" and items[3]["output"] == "sunny"
    page = item_page(items, {"order": ["asc"]})
    validate("ResponseItemList", page)
    assert len({i["id"] for i in items}) == 4


def test_a_clients_item_ids_are_kept_unless_already_taken() -> None:
    given = [
        {"type": "message", "id": "msg_mine", "role": "user", "content": "a"},
        {"type": "message", "id": "msg_mine", "role": "user", "content": "b"},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
    ]
    items = items_of_input(given, "base", {"fc_taken"})
    assert [i["id"] for i in items] == ["msg_mine", "msg_base_in1", "fc_base_in2"]


def test_cursors_follow_the_order_asked() -> None:
    items = [{"id": f"i{n}", "type": "message"} for n in range(5)]
    assert [i["id"] for i in item_page(items, {})["data"]] == ["i4", "i3", "i2", "i1", "i0"]
    page = item_page(items, {"after": ["i3"], "limit": ["2"]})
    assert [i["id"] for i in page["data"]] == ["i2", "i1"] and page["has_more"] is True
    page = item_page(items, {"before": ["i1"], "limit": ["2"]})
    assert [i["id"] for i in page["data"]] == ["i3", "i2"] and page["has_more"] is True
    page = item_page(items, {"after": ["i4"], "before": ["i1"], "order": ["desc"]})
    assert [i["id"] for i in page["data"]] == ["i3", "i2"] and page["has_more"] is False
    with pytest.raises(ApiError, match="give it once"):
        item_page(items, {"limit": ["1", "2"]})
