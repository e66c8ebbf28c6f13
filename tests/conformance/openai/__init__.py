"""Validation against the component schemas of OpenAI's OpenAPI description (``schemas.json``).

>>> validate("Model", {"id": "m", "object": "model", "created": 0, "owned_by": "me"})
>>> validate("Model", {"id": "m", "object": "model", "created": "yesterday", "owned_by": "me"})
Traceback (most recent call last):
...
AssertionError: not a valid Model: 'yesterday' is not of type 'integer' at created

The description is OpenAPI 3.1 (JSON Schema 2020-12) but keeps a few 3.0
``nullable: true`` markers; those are read as "or null", as OpenAPI means them.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

__all__ = ["validate", "validate_sse"]

_FILE = Path(__file__).with_name("schemas.json")


def _nullable(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items()}
        if node.pop("nullable", False):
            kind = node.get("type")
            if isinstance(kind, str):
                node["type"] = [kind, "null"]
            elif isinstance(kind, list) and "null" not in kind:
                node["type"] = [*kind, "null"]
            elif "$ref" in node or "anyOf" in node or "oneOf" in node or "allOf" in node:
                node = {"anyOf": [node, {"type": "null"}]}
            if isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        return node
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@functools.cache
def _validator(name: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    schemas = _nullable(json.loads(_FILE.read_text(encoding="utf-8"))["schemas"])
    root = Resource(contents={"components": {"schemas": schemas}}, specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:openai", root)
    schema = {"$ref": f"urn:openai#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(copy.deepcopy(schema), registry=registry)


def validate(name: str, body: Any) -> None:
    """Assert that ``body`` is a valid ``name`` (a component schema), naming the first problem."""
    error = next(iter(sorted(_validator(name).iter_errors(body), key=lambda e: len(list(e.path)))), None)
    if error is not None:
        best = _deepest(error)
        where = ".".join(str(p) for p in best.absolute_path) or "(top)"
        raise AssertionError(f"not a valid {name}: {best.message} at {where}")


def _deepest(error: Any) -> Any:
    """For an anyOf failure, the branch that got furthest: the likeliest meant one."""
    if not error.context:
        return error
    return _deepest(max(error.context, key=lambda e: (len(list(e.absolute_path)), -len(e.message))))


def validate_sse(name: str, raw: str) -> list[dict[str, Any]]:
    """Every ``data:`` event of a raw SSE body validated as ``name`` (``[DONE]`` and errors aside)."""
    events = []
    for block in raw.split("\n\n"):
        data = "".join(line[5:].strip() for line in block.splitlines() if line.startswith("data:"))
        if not data or data == "[DONE]":
            continue
        body = json.loads(data)
        if "error" in body and name != "ResponseStreamEvent":
            validate("ErrorResponse", body)
        else:
            validate(name, body)
        events.append(body)
    return events
