"""What ``shoal serve`` bounds before a request reaches a route, for every route.

- **The request head** (:class:`LimitedHttp`, uvicorn's httptools protocol with limits): more
  than ``[server] max_header_bytes`` of request line and headers is answered 431 before the
  headers are parsed or buffered further; a head not complete within ``header_timeout_s``
  (a connection that sends nothing, or trickles its headers) is answered 408; an HTTP parse
  error is answered in JSON too. All close the connection.
- **The body** (:func:`read_body`): ``max_body_bytes`` (413), ``body_timeout_s`` for the whole
  of it (408: a slow body, or one shorter than its declared length), a client that goes away
  mid-body is a 499. A route reads its body before it takes a concurrency slot, so clients
  that trickle their bodies hold no slot and cannot starve the others.
- **The JSON** (:func:`parse_json`): nesting deeper than :data:`MAX_DEPTH` and strings holding
  lone surrogates (which no member can be sent) are a 400 here, at validation, so they never
  become a member's failure.
- **Cross-site requests** (:func:`cross_site_refusal`): a POST must say
  ``Content-Type: application/json``; without API keys, the ``Host`` must be a loopback name
  (against DNS rebinding) and an ``Origin``, if sent, a loopback origin (a web page the user
  visits cannot drive the proxy).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from orchestrator.config import ServerConfig
from orchestrator.logs import get_logger
from orchestrator.proxy.auth import is_loopback
from orchestrator.proxy.errors import ApiError

__all__ = [
    "DEPARTURE",
    "MAX_DEPTH",
    "ClientGone",
    "Departure",
    "LimitedHttp",
    "cross_site_refusal",
    "departure_of",
    "parse_json",
    "read_body",
]

log = get_logger("shoal.proxy")

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a request body may have."""

_SURROGATE = re.compile("[\ud800-\udfff]")
# What a lone surrogate looks like in a UTF-8 body: a \u escape of one (D800-DFFF), or the bytes
# of one (json.loads decodes with "surrogatepass"). A body without either holds no surrogate.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_HEAD_END = b"\r\n\r\n"


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


# -- the body ----------------------------------------------------------------------------


async def read_body(request: Any, settings: ServerConfig) -> bytes:
    """The whole body: 413 past ``max_body_bytes``, 408 past ``body_timeout_s``, ClientGone if
    the client leaves. ``request`` has ``headers`` and ASGI's ``receive`` (an
    :class:`~orchestrator.proxy.inbound.Inbound`, or Starlette's ``Request``)."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    departure = departure_of(getattr(request, "scope", None))
    if departure is not None and departure.body_in:  # nothing to wait for: no timer
        return await _collect(request.receive, limit)
    try:
        async with asyncio.timeout(settings.body_timeout_s):
            return await _collect(request.receive, limit)
    except TimeoutError:
        raise ApiError(
            408,
            f"the request body did not arrive within {settings.body_timeout_s:g} s "
            "([server] body_timeout_s); send the whole body at once, and no less than Content-Length says",
            code="request_timeout",
            headers={"Connection": "close"},
        ) from None


async def _collect(receive: Any, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        part = message.get("body", b"")
        if part:
            size += len(part)
            if size > limit:
                raise too_large(limit)
            parts.append(part)
        if not message.get("more_body", False):
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than the server's limit of {limit} bytes ([server] max_body_bytes)",
        code="request_too_large",
    )


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or a 400 naming the problem (syntax, encoding, depth, lone surrogates)."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # includes bytes that are not UTF-8
        raise ApiError(
            400, f"could not parse the JSON body of the request: {exc}", code="invalid_json"
        ) from None
    if json.detect_encoding(raw) != "utf-8" or _MAYBE_SURROGATE.search(raw):
        _check_values(body)  # the walk over every string (and the depth)
    elif raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _deeper_than(body, MAX_DEPTH):
        raise _too_deep()
    return body


def _deeper_than(body: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` deep (strings are not looked at)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return False


def _check_values(body: Any) -> None:
    """Walk the parsed body (without recursion): depth and strings every member can be sent."""
    stack: list[tuple[Any, int, str]] = [(body, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                where = path.lstrip(".") or "the body"
                raise ApiError(
                    400,
                    f"{where}: the string holds a lone UTF-16 surrogate (such as \\ud800), which is "
                    "not valid Unicode; send well-formed text",
                    param=path.lstrip(".") or None,
                    code="invalid_unicode",
                )
            continue
        if isinstance(value, dict | list) and depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, depth, f"{path}.{key}"))
                stack.append((item, depth + 1, f"{path}.{key}"))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{path}.{i}") for i, item in enumerate(value))


def _too_deep() -> ApiError:
    return ApiError(
        400,
        f"the JSON body is nested more than {MAX_DEPTH} levels deep; flatten it",
        code="invalid_json",
    )


# -- cross-site requests -------------------------------------------------------------------


def cross_site_refusal(scope: dict[str, Any], *, auth_enabled: bool) -> ApiError | None:
    """Why a request must be refused before any route sees it, or None."""
    headers = _checked_headers(scope.get("headers", ()))
    if scope.get("method") == "POST":
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            shown = media or "none"
            return ApiError(
                400,
                f"Content-Type {shown} is not accepted: send the body as JSON with "
                "Content-Type: application/json",
                code="unsupported_media_type",
            )
    if auth_enabled:
        return None
    host = _hostname(headers.get("host", ""))
    if not is_loopback(host):
        return ApiError(
            403,
            f"Host {headers.get('host', '')!r} is not a loopback name: without API keys this server "
            "answers only requests addressed to localhost or 127.0.0.1 "
            "(set [server] api_keys to serve others)",
            type="permission_error",
            code="forbidden_host",
        )
    origin = headers.get("origin")
    if origin is not None and not is_loopback(urlsplit(origin).hostname or ""):
        return ApiError(
            403,
            f"Origin {origin!r} is not allowed: without API keys this server does not answer "
            "requests made by web pages of other sites (set [server] api_keys)",
            type="permission_error",
            code="forbidden_origin",
        )
    return None


_CHECKED = frozenset({b"content-type", b"host", b"origin"})


def _checked_headers(raw: Any) -> dict[str, str]:
    """The headers :func:`cross_site_refusal` reads, by lower-case name (the last of repeated ones)."""
    found: dict[str, str] = {}
    for name, value in raw:
        name = name.lower()
        if name in _CHECKED:
            found[name.decode("latin-1")] = value.decode("latin-1")
    return found


def _hostname(host: str) -> str:
    host = host.strip()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


# -- the request head ------------------------------------------------------------------------


class _HeldWrite:
    """A response's transport that joins what the response writes in one turn of the event loop
    into one write: uvicorn writes a response's head as soon as it starts, then its body; a
    stream's head, first event and the events of its end also come in one turn each. One system
    call and one packet instead of two or more.

    What is held is written at the end of the turn it was written in (a callback the loop runs
    before it reads more from any socket), when the response ends (before uvicorn starts the
    next request of the connection), and before a close.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def flush(self) -> None:
        if self._held:
            data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
            self._held = []
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


DEPARTURE = "shoal.departure"
"""The key, in a request scope's ``extensions``, of its :class:`Departure` (under :class:`LimitedHttp`)."""


class Departure:
    """What the protocol knows of one request that its handler would otherwise learn by reading
    ``receive``: whether the whole body is in, and when the client goes.

    ``on_leave`` registers a callback run when the connection is lost before the response is
    complete (the moment uvicorn's ``receive`` starts answering ``http.disconnect``), so the
    handler needs no task reading ``receive`` to notice.
    """

    __slots__ = ("_callback", "_cycle")

    def __init__(self, cycle: Any) -> None:
        self._cycle = cycle
        self._callback: Callable[[], None] | None = None

    @property
    def gone(self) -> bool:
        return bool(self._cycle.disconnected)

    @property
    def body_in(self) -> bool:
        """The whole body has arrived: the next ``receive`` returns it (or a disconnect) at once."""
        return not self._cycle.more_body or bool(self._cycle.disconnected)

    def on_leave(self, callback: Callable[[], None] | None) -> None:
        """Run ``callback`` when the client goes (None: no longer)."""
        self._callback = callback

    def left(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None:
            callback()


def departure_of(scope: dict[str, Any] | None) -> Departure | None:
    extensions = scope.get("extensions") if scope is not None else None
    return extensions.get(DEPARTURE) if extensions else None


class LimitedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a size limit and a read timeout for request heads; each
    response's writes are joined per turn of the event loop (:class:`_HeldWrite`)."""

    max_header_bytes: ClassVar[int] = 32 * 1024
    header_timeout_s: ClassVar[float] = 10.0

    @classmethod
    def configure(cls, settings: ServerConfig) -> None:
        """Take this process's limits from ``[server]`` (the protocol is built by uvicorn)."""
        cls.max_header_bytes = settings.max_header_bytes
        cls.header_timeout_s = settings.header_timeout_s

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._head_tail = b""
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a request does not stay open

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        cycle = self.cycle
        super().connection_lost(exc)
        if cycle is not None and cycle.disconnected:  # as uvicorn's receive will now say
            departure = departure_of(cycle.scope)  # type: ignore[arg-type]
            if departure is not None:
                departure.left()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            if self._head_timer is None:
                self._arm()
            window = self._head_tail + data
            end = window.find(_HEAD_END)
            seen = (
                self._head_bytes - len(self._head_tail) + (end + len(_HEAD_END) if end >= 0 else len(window))
            )
            if seen > self.max_header_bytes:
                self._refuse(
                    431,
                    f"the request line and headers are larger than the server's limit of "
                    f"{self.max_header_bytes} bytes ([server] max_header_bytes)",
                    "request_header_fields_too_large",
                )
                return
            if end < 0:
                self._head_bytes += len(data)
                self._head_tail = window[-3:]
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes, self._head_tail = 0, b""
        self._disarm()
        cycle = self.cycle
        super().on_headers_complete()
        if self.cycle is not cycle and self.cycle is not None:  # a new request (its task not started)
            scope: Any = self.cycle.scope
            scope.setdefault("extensions", {})[DEPARTURE] = Departure(self.cycle)
            held = _HeldWrite(self.transport, self.loop)
            self.cycle.transport = held  # type: ignore[assignment]
            done = self.cycle.on_response

            def completed() -> None:
                held.flush()  # the response is all out before the connection's next request
                done()

            self.cycle.on_response = completed

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what comes next on this connection is the next request's head

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, f"the request is not valid HTTP/1.1 ({msg.rstrip('.')})", "invalid_http")

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_bytes == 0 and not self._head_tail:
            self.transport.close()  # nothing was sent: nothing to answer
            return
        self._refuse(
            408,
            f"the request headers did not arrive within {self.header_timeout_s:g} s "
            "([server] header_timeout_s)",
            "request_timeout",
        )

    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer in OpenAI's error shape and close, before any route or task exists."""
        self._disarm()
        for cycle in (self.cycle, *(c for c, _ in self.pipeline)):
            if cycle is not None and isinstance(cycle.transport, _HeldWrite):
                cycle.transport.flush()  # what a response wrote goes first
        if self.transport.is_closing():
            return
        log.info("proxy_refused", status=status, code=code)
        body = ApiError(status, message, code=code).encoded()
        reasons = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}
        head = (
            f"HTTP/1.1 {status} {reasons[status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + body)
        self.transport.close()
        self._in_head = False
