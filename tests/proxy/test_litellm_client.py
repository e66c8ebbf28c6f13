"""litellm used as a client: ``openai/shoal/auto`` with ``api_base`` pointing at ``shoal serve``.

litellm keeps process-wide state (background loops, atexit hooks), so it runs
in a child process of its own; the test reads back what it got.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.proxy.servers import Served, serve_env

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    base = sys.argv[1]
    question = [{"role": "user", "content": "What is six times seven?"}]
    out = {}
    done = litellm.completion(model="openai/shoal/auto", api_base=base, api_key="unused", messages=question)
    out["auto"] = done.choices[0].message.content
    out["tokens"] = done.usage.total_tokens
    stream = litellm.completion(
        model="openai/talker", api_base=base, api_key="unused", messages=question, stream=True
    )
    out["streamed"] = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]

    async def main():
        done = await litellm.acompletion(
            model="openai/shoal/vote", api_base=base, api_key="unused", messages=question
        )
        return done.choices[0].message.content

    out["async"] = asyncio.run(main())
    try:
        litellm.completion(
            model="openai/shoal/nope", api_base=base, api_key="unused", messages=question, max_retries=0
        )
    except litellm.NotFoundError as exc:
        out["not_found"] = type(exc).__name__
    print(json.dumps(out))
    """
)


def test_litellm_as_a_client(served: Served) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, served.base_url],
        capture_output=True,
        text=True,
        env=serve_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["auto"] == "42" and got["tokens"] > 0
    assert "".join(got["streamed"]) == "The answer is forty two" and len(got["streamed"]) == 5
    assert got["async"] == "42"
    assert got["not_found"] == "NotFoundError"
