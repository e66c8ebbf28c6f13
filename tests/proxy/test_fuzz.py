"""Generated request bodies against one real ``shoal serve``: never a 500, and alive afterwards.

Bodies mix valid and wrong values in every field of a chat completion (types, ranges,
nesting, odd strings), so most are 400s and some are answered; none may be a 5xx other
than an honest upstream status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.helpers import scripted_toml
from tests.proxy.servers import Served, start_serve

EXAMPLES = 2000

anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
text = st.text(max_size=30) | st.sampled_from(["", "42", "What is 6*7?", "\u0000", "\ufeff", "𝔘"])
part = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "input_audio", "file"]) | anything},
    optional={"text": text | anything, "image_url": anything},
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool", "developer"]) | anything},
    optional={
        "content": text | st.lists(part, max_size=3) | anything,
        "name": text | anything,
        "tool_calls": anything,
        "tool_call_id": text | anything,
    },
)
fields = {
    "stream": st.booleans() | anything,
    "temperature": st.floats(-1, 3, allow_nan=False) | anything,
    "top_p": st.floats(-1, 2, allow_nan=False) | anything,
    "max_tokens": st.integers(-5, 100) | anything,
    "n": st.integers(-1, 10) | anything,
    "stop": text | st.lists(text, max_size=3) | anything,
    "seed": st.integers() | anything,
    "logit_bias": st.dictionaries(st.text(max_size=5), st.floats(allow_nan=False)) | anything,
    "response_format": anything,
    "tools": anything,
    "tool_choice": anything,
    "stream_options": anything,
    "user": text | anything,
    "shoal": st.fixed_dictionaries(
        {}, optional={"sensitivity": anything, "deadline_s": anything, "max_calls": anything}
    )
    | anything,
    "logprobs": anything,
}
body = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["alice", "shoal/vote", "shoal/auto", "nope"]) | anything,
        "messages": st.lists(message, min_size=0, max_size=3) | anything,
    },
    optional=fields,
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    members = {"alice": {"answers": ["42"]}, "bob": {"answers": ["42"]}, "carol": {"answers": ["41"]}}
    extra = '[strategies.vote]\nkind = "vote"\n\n[defaults]\nstrategy = "vote"\n'
    config = workdir / "shoal.toml"
    config.write_text(scripted_toml(members, extra), encoding="utf-8")
    server = start_serve(config, workdir)
    yield server
    server.stop()


def test_generated_bodies_are_never_a_500(fuzzed: Served) -> None:
    seen: dict[int, int] = {}
    with httpx.Client(base_url=fuzzed.base_url, timeout=20) as client:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(body)
        @example({"model": "alice", "messages": [{"role": "user", "content": "6*7?"}]})
        @example({"model": "shoal/vote", "messages": [{"role": "user", "content": "6*7?"}], "stream": True})
        def one(generated: dict) -> None:
            raw = json.dumps(generated).encode()
            response = client.post(
                "/chat/completions", content=raw, headers={"content-type": "application/json"}
            )
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (response.status_code, response.text, generated)
            if response.status_code != 200 or not generated.get("stream"):
                assert response.json()["error" if response.status_code >= 400 else "choices"]

        one()
    assert sum(seen.values()) >= EXAMPLES
    assert seen.get(200, 0) > 0 and seen.get(400, 0) > 0, seen  # both kinds were generated
    assert httpx.get(fuzzed.root + "/health", timeout=5).json()["status"] == "ok"
    assert "Traceback" not in fuzzed.stderr()
