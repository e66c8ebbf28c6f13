"""Carry the component schemas the tests validate against out of OpenAI's OpenAPI description.

    python tests/conformance/openai/extract.py path/to/openai-openapi.yaml

writes ``schemas.json`` beside this file: the schemas named in :data:`ROOTS` and
every schema they reference, unchanged. The description is openai/openai-openapi
(MIT, see ``LICENSE`` here); needs PyYAML to run, the tests only read the JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOTS = [
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "Response",
    "ResponseStreamEvent",
    "CreateEmbeddingResponse",
    "CreateCompletionResponse",
    "Model",
    "ListModelsResponse",
    "ErrorResponse",
    "ResponseItemList",
]
PREFIX = "#/components/schemas/"


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"][len(PREFIX) :]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def main(spec_path: str) -> None:
    import yaml

    spec = yaml.safe_load(Path(spec_path).read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    wanted: dict[str, Any] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted[name] = schemas[name]
        todo.extend(sorted(_refs(schemas[name]) - set(wanted)))
    out = {
        "source": "openai/openai-openapi " + spec["info"]["version"],
        "schemas": dict(sorted(wanted.items())),
    }
    target = Path(__file__).with_name("schemas.json")
    target.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{len(wanted)} schemas -> {target}")


if __name__ == "__main__":
    main(sys.argv[1])
