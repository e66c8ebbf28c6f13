"""Shoal through its OpenAI-compatible proxy, with the official ``openai`` client and nothing else.

Start a server first, then point this at it:

    shoal serve --config examples/scripted.toml          # prints http://127.0.0.1:8000/v1
    python examples/proxy_client.py http://127.0.0.1:8000/v1

The key comes from OPENAI_API_KEY (any value when the server has no keys).
"""

from __future__ import annotations

import os
import sys

import openai

QUESTION = [{"role": "user", "content": "What is six times seven?"}]


def show(meta: dict) -> None:
    """The ``shoal`` extension object: how sure the panel is, and who said what."""
    print(
        f"  confidence {meta['confidence']:.2f} · strategy {meta['strategy']} · abstained {meta['abstained']}"
    )
    for c in meta["candidates"]:
        said = c["answer"] if c["error"] is None else f"failed: {c['error']['type']}"
        print(f"  - {c['member']} ({c['model']}): {said!r} in {c['latency_s'] * 1000:.1f} ms")


def main(base_url: str) -> None:
    client = openai.OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "none"))

    print("models:", ", ".join(m.id for m in client.models.list()))

    raw = client.chat.completions.with_raw_response.create(model="shoal/auto", messages=QUESTION)
    done = raw.parse()
    print(f"answer: {done.choices[0].message.content}")
    print(f"  x-shoal-confidence: {raw.headers['x-shoal-confidence']} · tokens {done.usage.total_tokens}")
    show(done.model_extra["shoal"])

    print("streamed: ", end="", flush=True)
    stream = client.chat.completions.create(
        model="shoal/auto", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
        meta = (chunk.model_extra or {}).get("shoal")
    print()
    if meta:
        show(meta)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/v1")
