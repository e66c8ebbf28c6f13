"""A lean HTTP/1.1 keep-alive transport for httpx, for plain ``http://`` upstreams.

Local servers (llama.cpp, vLLM, Ollama, a proxy on loopback) answer in about a
millisecond, so what the client spends per request is what a fan-out pays. httpx's
default transport (httpcore over anyio) costs more CPU per request than the rest of a
member call together: a readiness check of the socket before each reuse, two writes per
request, several layers of async context managers. This transport keeps httpx's client,
requests, responses, errors and decoding, and does the wire part itself: one write per
request, idle connections kept per host, a connection the server has closed is dropped
when it is next picked. ``https://`` (remote vendors, where the network dominates) goes
to httpx's own transport.

A caller that builds a request's bytes itself may skip httpx's models altogether with
:meth:`LeanTransport.send` (same pool, timeouts and error classes): that is how
``openai_compat`` posts to a plain ``http://`` server, where httpx's request and response
objects were the larger part of what a call cost.

>>> import httpx
>>> client = httpx.AsyncClient(transport=LeanTransport())   # then use the client as usual
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterable, AsyncIterator

import httpx

__all__ = ["LeanTransport", "RawResponse", "sse_lines"]

_HEAD_LIMIT = 1 << 16
_NO_BODY_STATUSES = frozenset({204, 304})


class _Deadline:
    """The read timeout of one exchange: each wait for the server (the head, every part of the
    body) may last ``seconds``, as with ``asyncio.timeout`` around every read, on one timer.

    The timer is armed at the first wait and moved on only when it fires before the current
    wait's end, so a stream of many chunks pays a clock read per chunk, not a timer. When a
    wait outlives its time the task is cancelled; the reader then asks :meth:`timed_out`,
    which takes the cancellation back when it was only this deadline's (a cancellation from
    elsewhere stays a cancellation).
    """

    __slots__ = ("_cancelling", "_handle", "_loop", "_seconds", "_task", "_until", "expired")

    def __init__(self, seconds: float | None) -> None:
        self._seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None
        self._until = 0.0
        self._cancelling = 0
        self.expired = False

    def waiting(self) -> None:
        """A wait begins in the current task."""
        if self._seconds is None:
            return
        self._until = self._loop.time() + self._seconds
        task = self._task = asyncio.current_task()
        self._cancelling = task.cancelling() if task is not None else 0
        if self._handle is None:
            self._handle = self._loop.call_at(self._until, self._fire)

    def done(self) -> None:
        """The wait is over (whatever its outcome)."""
        self._task = None

    def timed_out(self) -> bool:
        """After a ``CancelledError`` in a wait: whether this deadline caused it (then it is undone)."""
        if not self.expired:
            return False
        self.expired = False
        task = asyncio.current_task()
        return task is not None and task.uncancel() <= self._cancelling

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        task = self._task
        if task is None:
            return  # between waits: the next one arms the timer again
        if self._loop.time() < self._until:
            self._handle = self._loop.call_at(self._until, self._fire)
            return
        self.expired = True
        task.cancel()


class _Connection:
    __slots__ = ("deadline", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.deadline: _Deadline | None = None

    @property
    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing() or self.reader._buffer)  # type: ignore[attr-defined]

    def close(self) -> None:
        if self.deadline is not None:
            self.deadline.close()
        self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive over asyncio streams; ``https`` goes to ``fallback``."""

    def __init__(
        self, *, max_idle_per_host: int = 512, fallback: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._max_idle = max_idle_per_host
        self._fallback = fallback or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            return await self._fallback.handle_async_request(request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        key = (request.url.host, request.url.port or 80)
        connection, status, headers, reason = await self._open(
            key, _serialize(request, await request.aread()), timeouts, request
        )
        body = _Body(self, key, connection, request, headers, status)
        return httpx.Response(
            status,
            headers=headers,
            stream=body,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def send(
        self, host: str, port: int, message: bytes, timeouts: dict[str, float | None]
    ) -> RawResponse:
        """Send the serialized request ``message`` (head and body) to ``host:port``; the response,
        its body still to read, without httpx's request and response models.

        For a caller that builds the bytes itself and reads only a status, headers and a body:
        the same pool, timeouts and errors (httpx's exception classes, without a request
        attached) as :meth:`handle_async_request`.
        """
        key = (host, port)
        connection, status, headers, _ = await self._open(key, message, timeouts, None)
        return RawResponse(status, headers, _Body(self, key, connection, None, headers, status))

    async def _open(
        self,
        key: tuple[str, int],
        message: bytes,
        timeouts: dict[str, float | None],
        request: httpx.Request | None,
    ) -> tuple[_Connection, int, list[tuple[bytes, bytes]], bytes]:
        """Write ``message`` on a kept connection (or a new one) and read the response's head."""
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.usable:
                connection.close()
                continue
            try:
                return await self._exchange(request, connection, message, timeouts)
            except httpx.RemoteProtocolError as exc:
                if not _closed_while_idle(exc):
                    raise
                # the server closed this kept connection just as we wrote to it: try another
        connection = await self._connect(request, key, timeouts.get("connect"))
        return await self._exchange(request, connection, message, timeouts)

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        await self._fallback.aclose()

    def _release(self, key: tuple[str, int], connection: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < self._max_idle and connection.usable:
            idle.append(connection)
        else:
            connection.close()

    async def _connect(
        self, request: httpx.Request | None, key: tuple[str, int], connect_s: float | None
    ) -> _Connection:
        try:
            async with asyncio.timeout(connect_s):
                reader, writer = await asyncio.open_connection(*key, limit=_HEAD_LIMIT)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {key[0]}:{key[1]} timed out", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(f"{exc.strerror or exc} ({key[0]}:{key[1]})", request=request) from exc
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(reader, writer)

    async def _exchange(
        self,
        request: httpx.Request | None,
        connection: _Connection,
        message: bytes,
        timeouts: dict[str, float | None],
    ) -> tuple[_Connection, int, list[tuple[bytes, bytes]], bytes]:
        deadline = connection.deadline = _Deadline(timeouts.get("read"))
        try:
            connection.writer.write(message)
            deadline.waiting()
            try:
                status, headers, reason = await _read_head(connection.reader)
            finally:
                deadline.done()
        except asyncio.CancelledError as exc:
            connection.close()
            if deadline.timed_out():
                raise httpx.ReadTimeout("timed out waiting for the response", request=request) from exc
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            connection.close()
            raise httpx.RemoteProtocolError(f"no valid response: {exc!r}", request=request) from exc
        except BaseException:  # an early exit: the connection is mid-exchange, so useless
            connection.close()
            raise
        return connection, status, headers, reason


class RawResponse:
    """A response from :meth:`LeanTransport.send`: status, raw headers, and the body to read once.

    Read the body with :meth:`read` or :meth:`lines`, then :meth:`aclose` (which returns the
    connection to the pool when the body was read to its end). A body the server compressed
    (``Content-Encoding``) is decoded by httpx's own decoders.
    """

    __slots__ = ("_body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: _Body) -> None:
        self.status, self.headers, self._body = status, headers, body

    async def read(self) -> bytes:
        """The whole body (decoded if the server compressed it)."""
        body = self._body
        return await (self._decoded().aread() if body.encoded else body.read_all())

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines as they arrive, decoded as UTF-8 (undecodable bytes replaced), without
        their ends; a line ends at CR LF, LF or CR, as in server-sent events."""
        body = self._body
        async for line in sse_lines(self._decoded().aiter_bytes() if body.encoded else body):
            yield line

    def _decoded(self) -> httpx.Response:
        """The body behind httpx's content decoders (for a compressed body)."""
        return httpx.Response(self.status, headers=self.headers, stream=self._body)

    async def aclose(self) -> None:
        await self._body.aclose()


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; the connection goes back to the pool once it is all read."""

    def __init__(
        self,
        transport: LeanTransport,
        key: tuple[str, int],
        connection: _Connection,
        request: httpx.Request | None,
        headers: list[tuple[bytes, bytes]],
        status: int,
    ) -> None:
        self._transport, self._key, self._connection, self._request = transport, key, connection, request
        assert connection.deadline is not None  # set by the exchange that read the head
        self._deadline = connection.deadline
        self._length: int | None = None
        self._chunked = False
        self._keep = True
        self.encoded = False  # the server compressed the body (Content-Encoding)
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                if not value.isdigit():
                    connection.close()
                    raise httpx.RemoteProtocolError(f"bad Content-Length {value[:40]!r}", request=request)
                self._length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                self._chunked = True
            elif lowered == b"connection" and b"close" in value.lower():
                self._keep = False
            elif lowered == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
                self.encoded = True
        if (request is not None and request.method == "HEAD") or status in _NO_BODY_STATUSES or status < 200:
            self._length, self._chunked = 0, False
        elif not self._chunked and self._length is None:
            self._keep = False  # the body ends when the server closes the connection
        self._done = False

    async def read_all(self) -> bytes:
        """The whole body; one already in the read buffer is taken without arming a timer."""
        length, reader = self._length, self._connection.reader
        if length is not None and not self._chunked and len(reader._buffer) >= length:  # type: ignore[attr-defined]
            data = await reader.readexactly(length)  # buffered: returns without waiting
            self._done = True
            self._deadline.close()
            return data
        return b"".join([part async for part in self])

    async def __aiter__(self) -> AsyncIterator[bytes]:
        reader, deadline = self._connection.reader, self._deadline
        try:
            if self._chunked:
                async for part in self._chunks(reader, deadline):
                    yield part
            elif self._length is not None:
                remaining = self._length
                while remaining:
                    deadline.waiting()
                    try:
                        data = await reader.read(min(remaining, 1 << 16))
                    finally:
                        deadline.done()
                    if not data:
                        raise asyncio.IncompleteReadError(b"", remaining)
                    remaining -= len(data)
                    yield data
            else:
                while True:
                    deadline.waiting()
                    try:
                        data = await reader.read(1 << 16)
                    finally:
                        deadline.done()
                    if not data:
                        break
                    yield data
            self._done = True
        except asyncio.CancelledError as exc:
            if deadline.timed_out():
                raise httpx.ReadTimeout("timed out reading the response body", request=self._request) from exc
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise httpx.RemoteProtocolError(
                f"response body cut short: {exc!r}", request=self._request
            ) from exc
        finally:
            deadline.close()

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader, deadline: _Deadline) -> AsyncIterator[bytes]:
        while True:
            deadline.waiting()
            try:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    return
                data = await reader.readexactly(size + 2)
            finally:
                deadline.done()
            yield data[:-2]

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None  # type: ignore[assignment]
        if connection is None:
            return
        self._deadline.close()
        if self._done and self._keep:
            self._transport._release(self._key, connection)
        else:
            connection.close()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if not parts[0].startswith(b"HTTP/1."):
            raise ValueError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200:
            continue  # 100 Continue and friends: the real response follows
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.append((name.strip(), value.strip()))
        return status, headers, parts[2] if len(parts) > 2 else b""


async def sse_lines(parts: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """The lines of a byte stream, decoded as UTF-8 (undecodable bytes replaced), without their ends.

    A line ends at CR LF, LF or CR, as server-sent events define it, and nowhere else: a
    U+2028 or a form feed inside an event's JSON is part of its line (``str.splitlines``,
    which httpx's ``aiter_lines`` follows, would cut the event there).
    """
    pending = b""  # an unfinished line, or one ending in CR whose LF may start the next part
    async for part in parts:
        data = pending + part if pending else part
        lines = data.splitlines(keepends=True)  # on bytes: at CR LF, LF and CR only
        pending = lines.pop() if lines and (data.endswith(b"\r") or not data.endswith(b"\n")) else b""
        for line in lines:
            yield line.rstrip(b"\r\n").decode("utf-8", "replace")
    if pending:
        yield pending.rstrip(b"\r\n").decode("utf-8", "replace")


def _serialize(request: httpx.Request, body: bytes) -> bytes:
    url = request.url
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), url.raw_path)]
    lines += [b"%s: %s" % (name, value) for name, value in request.headers.raw]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _closed_while_idle(exc: httpx.RemoteProtocolError) -> bool:
    """The server closed the connection before sending a single byte of the response."""
    cause = exc.__cause__
    if isinstance(cause, asyncio.IncompleteReadError):
        return not cause.partial
    return isinstance(cause, ConnectionResetError | BrokenPipeError)
