"""Server-sent events for ``stream: true``.

:class:`AnswerStream` runs the engine for one request and hands over the
answer's text as the engine streams it (a member asked directly, an
aggregator's or a chairman's generation), then the verdict. :func:`sse`
turns that into ``chat.completion.chunk`` events: the role first, text as it
comes with SSE comment heartbeats while the panel works, the rest of the
answer, the finish, usage when asked, the ``shoal`` metadata on the last
chunk, and ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import ShoalError
from orchestrator.logs import get_logger
from orchestrator.protocols import StreamDelta
from orchestrator.proxy.catalog import Target
from orchestrator.proxy.errors import ApiError, from_shoal_error
from orchestrator.proxy.schemas import chunk, dumps, finish_of, shoal_meta
from orchestrator.types import Verdict

__all__ = ["DONE", "HEARTBEAT", "AnswerStream", "Chunks", "StreamReport", "error_of", "sse"]

log = get_logger("shoal.proxy")

HEARTBEAT = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"
_END = object()


@dataclass(frozen=True, slots=True)
class _Stop:
    error: ApiError


def event(body: dict[str, Any]) -> bytes:
    return b"data: " + dumps(body) + b"\n\n"


class AnswerStream:
    """One engine run whose answer text arrives piece by piece, then its verdict (or error)."""

    def __init__(self, run: Callable[[Callable[[StreamDelta], None]], Awaitable[Verdict]]) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._ahead: list[object] = []
        self._cancelled = False
        self.task: asyncio.Task[Verdict] = asyncio.create_task(self._run(run))

    async def _run(self, run: Callable[[Callable[[StreamDelta], None]], Awaitable[Verdict]]) -> Verdict:
        try:
            return await run(self._queue.put_nowait)
        finally:
            self._queue.put_nowait(_END)

    async def wait(self, within_s: float) -> bool:
        """Whether something (text, or the end) arrived within ``within_s``, without taking it."""
        while not self._queue.empty():
            self._ahead.append(self._queue.get_nowait())
        if self._ahead:
            return True
        try:
            async with asyncio.timeout(within_s):
                self._ahead.append(await self._queue.get())
        except TimeoutError:
            return False
        return True

    def failed_early(self) -> BaseException | None:
        """The run's error if it ended before sending any text (so an HTTP status can still say it)."""
        if self._ahead and self._ahead[0] is _END and self.task.done() and not self.task.cancelled():
            return self.task.exception()
        return None

    async def next(self, within_s: float) -> list[object] | None:
        """What arrived (text deltas, maybe ``_END`` last), or ``None`` after ``within_s`` of silence."""
        if not self._ahead and self._queue.empty():
            try:
                async with asyncio.timeout(within_s):
                    self._ahead.append(await self._queue.get())
            except TimeoutError:
                return None
        got, self._ahead = self._ahead, []
        while not self._queue.empty():
            got.append(self._queue.get_nowait())
        return got

    def stop(self, error: ApiError) -> None:
        """End the stream now with ``error`` as its last event (the server is shutting down)."""
        self._queue.put_nowait(_Stop(error))
        self.cancel()

    def cancel(self) -> None:
        """Cancel the run, once (repeated ``Task.cancel`` calls let an httpx stream in the run carry on)."""
        if not self._cancelled and not self.task.done():
            self._cancelled = True
            self.task.cancel()


@dataclass
class StreamReport:
    """How a stream ended, for metrics and the access log."""

    status: int = 499  # until proven otherwise: the client went away
    verdict: Verdict | None = None
    error: ApiError | None = None


@dataclass(frozen=True, slots=True)
class Chunks:
    """The identity every chunk of one stream repeats, and the chunk shapes it needs."""

    chat_id: str
    created: int
    target: Target
    include_usage: bool

    def text(self, delta: dict[str, Any], **kwargs: Any) -> bytes:
        body = chunk(
            self.chat_id, self.created, self.target.id, delta, with_usage_field=self.include_usage, **kwargs
        )
        return event(body)

    def usage(self, verdict: Verdict, meta: dict[str, Any]) -> bytes:
        body = chunk(self.chat_id, self.created, self.target.id, None, usage=verdict.usage, shoal=meta)
        return event(body)


async def sse(
    stream: AnswerStream,
    chunks: Chunks,
    *,
    heartbeat_s: float,
    report: StreamReport,
    on_close: Callable[[], None],
) -> AsyncIterator[bytes]:
    """The event stream of one answer; closing it (client gone) cancels the engine's calls."""
    sent: list[str] = []
    try:
        yield chunks.text({"role": "assistant", "content": ""})
        while True:
            got = await stream.next(heartbeat_s)
            if got is None:
                yield HEARTBEAT
                continue
            out = bytearray()
            ended = False
            for item in got:
                if item is _END:
                    ended = True
                elif isinstance(item, _Stop):
                    report.status, report.error = item.error.status, item.error
                    yield bytes(out) + event(item.error.body())
                    return
                elif isinstance(item, StreamDelta) and item.text:
                    sent.append(item.text)
                    out += chunks.text({"content": item.text})
            if out:
                yield bytes(out)
            if ended:
                break
        for part in _ending(stream.task, "".join(sent), chunks, report):
            yield part
        yield DONE
    finally:
        stream.cancel()
        on_close()


def _ending(task: asyncio.Task[Verdict], streamed: str, chunks: Chunks, report: StreamReport) -> list[bytes]:
    """After the engine finished: the rest of the answer, the finish, usage and metadata; or the error."""
    error = error_of(task, chunks.target)
    if error is not None:
        report.status, report.error = error.status, error
        return [event(error.body())]
    verdict = task.result()
    report.verdict = verdict
    streamed = streamed.strip()  # strategies strip the generation they stream
    if not verdict.answer.startswith(streamed):
        report.status = 502
        report.error = ApiError(
            502,
            "the strategy's answer differs from the text streamed so far (its final generation failed "
            "midway and it answered otherwise); retry the request, or send stream=false",
            type="upstream_error",
            code="stream_diverged",
        )
        return [event(report.error.body())]
    report.status = 200
    parts = []
    tail = verdict.answer[len(streamed) :]
    if tail:
        parts.append(chunks.text({"content": tail}))
    if verdict.tool_calls:
        calls = [{"index": i, **call} for i, call in enumerate(verdict.tool_calls)]
        parts.append(chunks.text({"tool_calls": calls}))
    finish = finish_of(verdict, chunks.target)
    meta = shoal_meta(verdict)
    parts.append(chunks.text({}, finish_reason=finish, shoal=None if chunks.include_usage else meta))
    if chunks.include_usage:
        parts.append(chunks.usage(verdict, meta))
    return parts


def error_of(task: asyncio.Task[Verdict], target: Target) -> ApiError | None:
    """The run's failure as an API error, or ``None`` if it gave a verdict."""
    if task.cancelled():
        return ApiError(499, "the request was cancelled", type="server_error", code="cancelled")
    exc = task.exception()
    if exc is None:
        return None
    if isinstance(exc, ShoalError):
        return from_shoal_error(exc, direct=target.member)
    log.error("request_failed", error_type=type(exc).__name__, exc_info=exc)
    return ApiError(500, "internal error while answering", type="server_error", code="internal_error")
