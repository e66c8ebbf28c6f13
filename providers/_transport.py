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

>>> import httpx
>>> client = httpx.AsyncClient(transport=LeanTransport())   # then use the client as usual
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx

__all__ = ["LeanTransport"]

_HEAD_LIMIT = 1 << 16
_NO_BODY_STATUSES = frozenset({204, 304})


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @property
    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing() or self.reader._buffer)  # type: ignore[attr-defined]

    def close(self) -> None:
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
        message = _serialize(request, await request.aread())
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.usable:
                connection.close()
                continue
            try:
                return await self._exchange(request, key, connection, message, timeouts)
            except httpx.RemoteProtocolError as exc:
                if not _closed_while_idle(exc):
                    raise
                # the server closed this kept connection just as we wrote to it: try another
        connection = await self._connect(request, key, timeouts.get("connect"))
        return await self._exchange(request, key, connection, message, timeouts)

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
        self, request: httpx.Request, key: tuple[str, int], connect_s: float | None
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
        request: httpx.Request,
        key: tuple[str, int],
        connection: _Connection,
        message: bytes,
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        read_timeout = timeouts.get("read")
        try:
            connection.writer.write(message)
            async with asyncio.timeout(read_timeout):
                status, headers, reason = await _read_head(connection.reader)
        except TimeoutError as exc:
            connection.close()
            raise httpx.ReadTimeout("timed out waiting for the response", request=request) from exc
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            connection.close()
            raise httpx.RemoteProtocolError(f"no valid response: {exc!r}", request=request) from exc
        except BaseException:  # cancelled (an early exit): the connection is mid-exchange, so useless
            connection.close()
            raise
        body = _Body(self, key, connection, request, headers, status, read_timeout)
        return httpx.Response(
            status,
            headers=headers,
            stream=body,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; the connection goes back to the pool once it is all read."""

    def __init__(
        self,
        transport: LeanTransport,
        key: tuple[str, int],
        connection: _Connection,
        request: httpx.Request,
        headers: list[tuple[bytes, bytes]],
        status: int,
        read_timeout: float | None,
    ) -> None:
        self._transport, self._key, self._connection, self._request = transport, key, connection, request
        self._timeout = read_timeout
        self._length: int | None = None
        self._chunked = False
        self._keep = True
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                self._length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                self._chunked = True
            elif lowered == b"connection" and b"close" in value.lower():
                self._keep = False
        if request.method == "HEAD" or status in _NO_BODY_STATUSES or 100 <= status < 200:
            self._length, self._chunked = 0, False
        elif not self._chunked and self._length is None:
            self._keep = False  # the body ends when the server closes the connection
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        reader = self._connection.reader
        try:
            if self._chunked:
                async for part in self._chunks(reader):
                    yield part
            elif self._length is not None:
                remaining = self._length
                while remaining:
                    async with asyncio.timeout(self._timeout):
                        data = await reader.read(min(remaining, 1 << 16))
                    if not data:
                        raise asyncio.IncompleteReadError(b"", remaining)
                    remaining -= len(data)
                    yield data
            else:
                while True:
                    async with asyncio.timeout(self._timeout):
                        data = await reader.read(1 << 16)
                    if not data:
                        break
                    yield data
            self._done = True
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out reading the response body", request=self._request) from exc
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise httpx.RemoteProtocolError(
                f"response body cut short: {exc!r}", request=self._request
            ) from exc

    async def _chunks(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            async with asyncio.timeout(self._timeout):
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    return
                data = await reader.readexactly(size + 2)
            yield data[:-2]

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None  # type: ignore[assignment]
        if connection is None:
            return
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
