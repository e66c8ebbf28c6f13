"""A request as the proxy's handlers see it, and the watch that stops its work when it is no
longer wanted.

:class:`Inbound` is the request of the engine's POST routes, read straight from ASGI: its
headers (looked up in the scope's list, the first of repeated ones, as Starlette does) and its
``receive``. Those routes are dispatched before Starlette's router (see
:class:`~orchestrator.proxy.app.Guard`); the other routes get Starlette's ``Request``, which
offers the same two things.

:func:`until_disconnect` runs the request's work in the request's own task. The protocol
(:class:`~orchestrator.proxy.limits.LimitedHttp`, through the scope's
:class:`~orchestrator.proxy.limits.Departure`) tells it when the client goes; under another
server, one watcher task reads ``receive`` for the client's disconnect. When the client leaves,
or the shutdown's grace ends (:class:`Grace`), the request's task is cancelled, its calls are
cancelled and recorded, and the handler answers :class:`~orchestrator.proxy.limits.ClientGone`
or a 503.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from orchestrator.proxy.errors import ApiError
from orchestrator.proxy.limits import ClientGone, departure_of

__all__ = ["Grace", "HttpRequest", "Inbound", "shutting_down", "until_disconnect"]

T = TypeVar("T")


class _HeaderLookup(Protocol):
    def get(self, key: str, /) -> str | None: ...


class HttpRequest(Protocol):
    """What the handlers use of a request: :class:`Inbound`, or Starlette's ``Request``."""

    @property
    def headers(self) -> _HeaderLookup: ...

    @property
    def receive(self) -> Callable[[], Awaitable[Any]]: ...


class _Headers:
    """A request's headers by lower-case name: the first value of a repeated header."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def get(self, key: str, /) -> str | None:
        name = key.lower().encode("latin-1")
        for header, value in self._raw:
            if header == name:
                return value.decode("latin-1")
        return None


class Inbound:
    """One HTTP request, from its ASGI scope and ``receive``."""

    __slots__ = ("headers", "receive", "scope")

    def __init__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]]) -> None:
        self.scope = scope
        self.receive = receive
        self.headers = _Headers(scope["headers"])


class Grace:
    """Over once ``shutdown_grace_s`` has passed after SIGTERM: the work still being watched then
    is stopped, and its request answered 503."""

    def __init__(self) -> None:
        self.over = False
        self._watches: set[_Watch] = set()

    def is_set(self) -> bool:
        return self.over

    def end(self) -> None:
        self.over = True
        for watch in list(self._watches):
            watch.stop()


class _Watch:
    """Cancels one request's task, once, when its client leaves or the grace ends."""

    __slots__ = ("stopped", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.stopped = False

    async def listen(self, receive: Callable[[], Awaitable[Any]]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.stop()

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.task.cancel()


async def until_disconnect(request: HttpRequest, work: Awaitable[T], grace: Grace | None = None) -> T:
    """``work``'s result; :class:`ClientGone` if the client leaves first, a 503 if ``grace`` ends
    first; either way ``work`` is cancelled (and has finished) before this returns."""
    if grace is not None and grace.over:
        if inspect.iscoroutine(work):
            work.close()
        raise shutting_down()
    task = asyncio.current_task()
    assert task is not None
    watch = _Watch(task)
    departure = departure_of(getattr(request, "scope", None))
    watcher: asyncio.Task[None] | asyncio.Handle | None = None
    if departure is None:  # not under LimitedHttp: a task reads receive for the disconnect
        watcher = asyncio.get_running_loop().create_task(watch.listen(request.receive))
    elif departure.gone:  # stopped once the work first waits (where a watcher would see it)
        watcher = asyncio.get_running_loop().call_soon(watch.stop)
    else:
        departure.on_leave(watch.stop)
    if grace is not None:
        grace._watches.add(watch)
    try:
        result = await work
    except BaseException:
        # Cancelled by the watch (and by nobody else): the client left, or the grace is over.
        if not watch.stopped or task.uncancel() > 0:
            raise
    else:
        if not watch.stopped:
            return result
        task.uncancel()  # it finished as it was being cancelled: its answer is not wanted either
    finally:
        if watcher is not None:
            watcher.cancel()
        if departure is not None:
            departure.on_leave(None)
        if grace is not None:
            grace._watches.discard(watch)
    if grace is not None and grace.over:
        raise shutting_down()
    raise ClientGone


def shutting_down() -> ApiError:
    return ApiError(
        503,
        "the server is shutting down and its grace period for requests in flight is over; retry",
        type="server_error",
        code="shutting_down",
        headers={"Retry-After": "1"},
    )
