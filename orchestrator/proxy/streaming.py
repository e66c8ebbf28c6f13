"""Server-sent events for ``stream: true``, shared by every API surface.

:class:`AnswerStream` runs the engine for one request and hands over the
answer's text and tool-call pieces as the engine streams them (a member asked
directly, an aggregator's or a chairman's generation), then the verdict.
:func:`sse` turns that into a surface's events through its
:class:`~orchestrator.proxy.surfaces.base.Encoder`: the start, text and tool
calls as they come with heartbeats while the panel works, the rest of the
answer, the finish with usage and the ``shoal`` metadata. The verdict is
checked against what was really sent: a verdict that is not its continuation
ends the stream with an error event instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import ShoalError
from orchestrator.logs import get_logger
from orchestrator.protocols import StreamDelta
from orchestrator.proxy.catalog import Target
from orchestrator.proxy.errors import ApiError, from_shoal_error
from orchestrator.proxy.surfaces.base import Encoder, call_signature, merged_calls
from orchestrator.types import Verdict

__all__ = ["AnswerStream", "Sent", "StreamReport", "error_of", "sse"]

log = get_logger("shoal.proxy")

_END = object()


@dataclass(frozen=True, slots=True)
class _Stop:
    error: ApiError


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


@dataclass
class Sent:
    """What really went out on one stream: the text and the tool-call pieces, as sent."""

    text: list[str] = field(default_factory=list)
    pieces: list[dict[str, Any]] = field(default_factory=list)


async def sse(
    stream: AnswerStream,
    encoder: Encoder,
    target: Target,
    *,
    heartbeat_s: float,
    report: StreamReport,
    on_close: Callable[[], None],
) -> AsyncIterator[bytes]:
    """The event stream of one answer in ``encoder``'s format; closing it (client gone) cancels the
    engine's calls. Text and tool-call pieces go out as the member sends them."""
    sent = Sent()
    try:
        yield encoder.start()
        while True:
            got = await stream.next(heartbeat_s)
            if got is None:
                yield encoder.heartbeat
                continue
            out = bytearray()
            ended = False
            for item in got:
                if item is _END:
                    ended = True
                elif isinstance(item, _Stop):
                    report.status, report.error = item.error.status, item.error
                    yield bytes(out) + b"".join(encoder.error(item.error))
                    return
                elif isinstance(item, StreamDelta):
                    if item.text:
                        sent.text.append(item.text)
                        out += encoder.text(item.text, logprobs=item.logprobs)
                    if item.tool_calls:
                        sent.pieces.extend(item.tool_calls)
                        out += encoder.tool_calls(item.tool_calls)
            if out:
                yield bytes(out)
            if ended:
                break
        for part in await _ending(stream.task, sent, encoder, report, target):
            yield part
    finally:
        stream.cancel()
        on_close()


async def _ending(
    task: asyncio.Task[Verdict], sent: Sent, encoder: Encoder, report: StreamReport, target: Target
) -> list[bytes]:
    """After the engine finished: what of the answer is still to send, the finish, usage and
    metadata; or the error, when the verdict is not what was already sent."""
    error = error_of(task, target)
    if error is not None:
        report.status, report.error = error.status, error
        return encoder.error(error)
    verdict = task.result()
    report.verdict = verdict
    streamed = "".join(sent.text).strip()  # strategies strip the generation they stream
    calls_sent = merged_calls(sent.pieces) if sent.pieces else []
    text_differs = not verdict.answer.startswith(streamed)
    calls_differ = bool(calls_sent) and call_signature(calls_sent) != call_signature(verdict.tool_calls)
    if text_differs or calls_differ:
        report.status = 502
        report.error = ApiError(
            502,
            "the strategy's answer differs from what was streamed so far (its final generation failed "
            "midway and it answered otherwise); retry the request, or send stream=false",
            type="upstream_error",
            code="stream_diverged",
        )
        return encoder.error(report.error)
    report.status = 200
    tail = verdict.answer[len(streamed) :]
    unsent = None if calls_sent else verdict.tool_calls
    return await encoder.finish(verdict, tail, unsent)


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
