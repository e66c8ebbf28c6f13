"""Keying a text vote never stalls the proxy's event loop.

A ``shoal serve`` app runs on the test's own event loop (uvicorn on a loopback port), so a probe
coroutine on that loop sees every stall. Five members answer with 2,000-character texts and a text
vote keys them; meanwhile the probe sleeps 2 ms at a time and records how late it wakes. Keying
runs in a worker thread (and cuts long answers to the part that carries the answer), so the loop is
never blocked for more than 20 ms.
"""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
import uvicorn

from orchestrator.proxy.app import create_app
from tests.helpers import scripted_config

_PARAGRAPH = (
    "Photosynthesis is the process by which green plants, algae and some bacteria capture light and store"
    " its energy in sugar. In the chloroplasts, chlorophyll absorbs mostly blue and red light; the light"
    " reactions split water, release oxygen and make ATP and NADPH, which the Calvin cycle then uses to"
    " fix carbon dioxide into three-carbon sugars. "
)


def long_answer(i: int) -> str:
    opening = f"Answer {i}: plants turn light energy into chemical energy stored in glucose. "
    closing = " In short, light energy becomes chemical energy."
    return opening + (_PARAGRAPH * 10)[: 2000 - len(opening) - len(closing)] + closing


@pytest.mark.asyncio
async def test_keying_five_long_answers_never_blocks_the_loop_for_20_ms() -> None:
    answers = [long_answer(i) for i in range(5)]
    assert all(len(a) == 2000 for a in answers)
    members = {f"m{i}": {"answers": [a]} for i, a in enumerate(answers)}
    names = ", ".join(f'"m{i}"' for i in range(5))
    extra = (
        f'[teams.t]\nmembers = [{names}]\n[strategies.v]\nkind = "vote"\nteam = "t"\nanswer_type = "text"\n'
        '[defaults]\nstrategy = "v"\nteam = "t"\n'
    )
    app = create_app(scripted_config(members, extra))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", log_config=None))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
            await asyncio.sleep(0.01)
        body = {"model": "shoal/v", "messages": [{"role": "user", "content": "What does photosynthesis do?"}]}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            warm = await client.post("/v1/chat/completions", json=body)  # loads the model, if any
            assert warm.status_code == 200, warm.text
            lags: list[float] = []
            done = asyncio.Event()

            async def probe() -> None:
                while not done.is_set():
                    start = time.perf_counter()
                    await asyncio.sleep(0.002)
                    lags.append(time.perf_counter() - start - 0.002)

            task = asyncio.create_task(probe())
            try:
                for n in range(3):
                    question = {"role": "user", "content": f"What does photosynthesis do? ({n})"}
                    reply = await client.post("/v1/chat/completions", json={**body, "messages": [question]})
                    assert reply.status_code == 200, reply.text
            finally:
                done.set()
                await task
        verdict = reply.json()["shoal"]
        assert len(verdict["clusters"]) >= 1
        assert len(lags) > 10
        assert max(lags) < 0.020, f"the loop stalled for {max(lags) * 1000:.1f} ms"
    finally:
        server.should_exit = True
        await serving
        sock.close()
