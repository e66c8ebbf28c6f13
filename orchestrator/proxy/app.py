"""The ASGI app: every API surface in front of one orchestrator, with auth, limits, errors and
metrics shared (the surfaces themselves are in :mod:`orchestrator.proxy.surfaces`).

>>> from orchestrator.config import parse_config
>>> config = parse_config('''
... [members.alice]
... provider = "scripted"
... model = "scripted"
... ''', source="doc")
>>> app = create_app(config)    # an ASGI app; `shoal serve` runs it on uvicorn
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from orchestrator.config import ShoalConfig, load_config
from orchestrator.engine import Orchestrator
from orchestrator.errors import BudgetExceeded, ConfigError
from orchestrator.logs import configure_logging, get_logger
from orchestrator.proxy.auth import ApiKeys
from orchestrator.proxy.catalog import Catalog, Target
from orchestrator.proxy.errors import ApiError, from_exception
from orchestrator.proxy.inbound import Grace, HttpRequest, Inbound, shutting_down, until_disconnect
from orchestrator.proxy.limits import ClientGone, cross_site_refusal, parse_json, read_body
from orchestrator.proxy.metrics import CONTENT_TYPE, ProxyMetrics, StateCollector
from orchestrator.proxy.quota import SENSITIVITY_HEADER, KeyQuota, with_header_sensitivity
from orchestrator.proxy.streaming import AnswerStream, StreamReport, error_of, sse
from orchestrator.proxy.surfaces import EnginePost, Surface, surface_routes
from orchestrator.proxy.surfaces.base import JSON, Plan, dumps, usage_of
from orchestrator.registry import Registry
from orchestrator.sovereignty.health import HealthCollector
from orchestrator.state.responses import ResponseStore, SharedResponseStore, SqliteResponseStore
from orchestrator.types import Candidate, Verdict, new_request_id

__all__ = ["ClientGone", "Proxy", "app_from_env", "create_app", "read_json", "until_disconnect"]

log = get_logger("shoal.proxy")


@dataclass
class Exchange:
    """One request's bookkeeping: its slot, its metrics and its access-log line, settled once."""

    proxy: Proxy
    started: float = field(default_factory=time.perf_counter)
    model: str = "unknown"
    target: Target | None = None
    stream: bool = False
    request_id: str | None = None
    admitted: bool = False
    settled: bool = False

    def settle(self, status: int, verdicts: list[Verdict] | None = None) -> None:
        if self.settled:
            return
        self.settled = True
        if self.admitted:
            self.proxy.release()
        seconds = time.perf_counter() - self.started
        usage = usage_of(verdicts) if verdicts else None
        self.proxy.metrics.request(self.model, status, self.stream, seconds, usage)
        log.info(
            "proxy_request",
            request_id=self.request_id,
            model=self.model,
            stream=self.stream,
            status=status,
            latency_s=round(seconds, 4),
            calls=sum(v.calls for v in verdicts) if verdicts else 0,
        )


class Proxy:
    """The server's state: one orchestrator, the model catalog, keys, limits and metrics."""

    def __init__(self, config: ShoalConfig, *, registry: Registry | None = None) -> None:
        self.config = config
        self.settings = config.server
        instance = config.state.instance_name()
        self.metrics = ProxyMetrics(instance)  # with --workers N: the whole server's (multiprocess)
        self.orchestrator = Orchestrator(config, registry=registry, on_call=self._on_call)
        self.quota = KeyQuota(self.settings, self.orchestrator.state, self.orchestrator.accounts)
        self.metrics.collect_at_scrape(HealthCollector(self.orchestrator))  # members' breakers
        cache = self.orchestrator.response_cache
        self.metrics.collect_at_scrape(StateCollector(self.orchestrator.state, instance, cache))
        self.catalog = Catalog.of(config, self.orchestrator.registry)
        self.keys = ApiKeys([k.get_secret_value() for k in self.settings.api_keys])
        for alias, served in self.settings.model_aliases.items():
            if self.catalog.get(served) is None:
                raise ConfigError(
                    f"[server] model_aliases: {alias!r} points at {served!r}, which this server does not "
                    f"offer; use one of: {', '.join(self.catalog.ids())}",
                    key=f"server.model_aliases.{alias}",
                )
        self.created = int(time.time())
        # Stored responses are replayed to members only inside a new engine request, which the policy
        # scans like any other; on Redis every instance sees them.
        self.responses: ResponseStore = (
            SharedResponseStore(self.orchestrator.state)
            if config.state.backend == "redis"
            else SqliteResponseStore(config.cache_dir() / "responses.sqlite")
        )
        self._in_flight = 0
        self.expired = Grace()  # over once shutdown_grace_s has passed after SIGTERM
        self._streams: set[AnswerStream] = set()

    # -- admission -------------------------------------------------------------------

    def authorize(self, request: HttpRequest) -> None:
        if self.keys.enabled and not self.keys.allows(bearer(request)):
            raise ApiError(
                401,
                "Incorrect API key provided: send Authorization: Bearer <key> (or x-api-key: <key>) "
                "with one of the server's keys",
                code="invalid_api_key",
            )

    def admit(self, exchange: Exchange) -> None:
        if self._in_flight >= self.settings.max_concurrent_requests:
            raise ApiError(
                503,
                f"the server is at its limit of {self.settings.max_concurrent_requests} concurrent "
                "requests; retry shortly",
                type="server_error",
                code="overloaded",
                headers={"Retry-After": "1"},
            )
        self._in_flight += 1
        self.metrics.in_flight.inc()
        exchange.admitted = True

    def _on_call(self, candidate: Candidate) -> None:
        self.metrics.call(candidate)

    def release(self) -> None:
        self._in_flight -= 1
        self.metrics.in_flight.dec()

    def drain(self, grace_s: float) -> None:
        """Shutdown began: what is still running after ``grace_s`` is answered 503 (an error
        event for a stream) and cancelled, so no client gets a bare 500 or a cut stream."""
        asyncio.get_running_loop().call_later(grace_s, self._expire)

    def _expire(self) -> None:
        self.expired.end()
        for stream in list(self._streams):
            stream.stop(shutting_down())

    # -- the shared pipeline ----------------------------------------------------------

    async def handle(self, request: HttpRequest, surface: Surface) -> Response | JsonAnswer:
        """One engine request through ``surface``: auth, limits, the engine, errors in its shape."""
        exchange = Exchange(self)
        try:
            self.authorize(request)
            body = await read_json(request, self.settings)
            planned = await surface.plan(body)
            self.admit(exchange)  # only once the body is in: a slow client holds no slot
            exchange.stream = planned.stream
            exchange.model, exchange.target = planned.target.id, planned.target
            planned = await self._sovereign(request, planned)
            exchange.request_id = planned.request.request_id
            if planned.stream:
                return await self._stream(request, planned, exchange, surface)
            verdicts = await until_disconnect(request, self._answer(planned), self.expired)
            body_out = await surface.render(planned, verdicts)
        except ApiError as exc:
            exchange.settle(exc.status)
            return surface.error_response(exc)
        except ClientGone:
            exchange.settle(499)
            return Response(status_code=499)
        except asyncio.CancelledError:
            exchange.settle(499)
            raise
        except Exception as exc:  # ShoalErrors (also out of the n > 1 task group), or a bug
            error = from_exception(exc, direct=exchange.target.member if exchange.target else None)
            exchange.settle(error.status)
            return surface.error_response(error)
        exchange.settle(200, verdicts)
        confidence = f"{verdicts[0].confidence:.4f}"
        request_id = planned.request.request_id.encode("latin-1")
        return JsonAnswer(dumps(body_out), request_id, confidence.encode("latin-1"))

    async def health(self, request: Request) -> Response:
        body = {
            "status": "ok",
            "models": len(self.catalog.ids()),
            "in_flight": self._in_flight,
            "tasks": len(asyncio.all_tasks()),  # for leak checks (benchmarks/soak.py)
        }
        return Response(dumps(body), media_type=JSON)

    async def metrics_text(self, request: Request) -> Response:
        self.authorize(request)
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    # -- answering -------------------------------------------------------------------

    def target(self, model: str, *, param: str | None = "model") -> Target:
        """The served model ``model`` names: an id, or an alias of ``[server] model_aliases``."""
        aliases = self.settings.model_aliases
        target = self.catalog.get(model) or self.catalog.get(aliases.get(model) or aliases.get("*") or "")
        if target is None:
            raise ApiError(
                404,
                f"The model {model!r} does not exist; this server offers: {', '.join(self.catalog.ids())}",
                param=param,
                code="model_not_found",
            )
        return target

    async def _answer(self, planned: Plan) -> list[Verdict]:
        n = planned.choices
        if n == 1:
            return [await self._run(planned, planned.request, None)]
        requests = [planned.request] + [
            planned.request.model_copy(update={"request_id": new_request_id()}) for _ in range(n - 1)
        ]
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._run(planned, r, None)) for r in requests]
        return [t.result() for t in tasks]

    async def _sovereign(self, request: HttpRequest, planned: Plan) -> Plan:
        """The header's sensitivity joined (labels checked: an unknown one is a 400), the key's rate
        limit and daily budget checked and applied."""
        policy = self.orchestrator.gatekeeper.policy
        tags = with_header_sensitivity(planned.request.tags, request.headers.get(SENSITIVITY_HEADER), policy)
        if self.quota.active:
            tags = await self.quota.begin(bearer(request), tags)
        if tags is planned.request.tags:  # nothing to join or cap
            return planned
        return dataclasses.replace(planned, request=planned.request.model_copy(update={"tags": tags}))

    async def _run(self, planned: Plan, request: Any, on_delta: Any) -> Verdict:
        try:
            return await self.orchestrator.run(
                request,
                strategy=planned.target.strategy,
                member=planned.target.member,
                on_delta=on_delta,
                cache=planned.choices == 1,  # n samples are n answers, not one answer n times
            )
        except BudgetExceeded as exc:
            raise self.quota.explain(exc, planned.caller_tags) from None

    async def _stream(
        self, request: HttpRequest, planned: Plan, exchange: Exchange, surface: Surface
    ) -> Response:
        stream = AnswerStream(lambda on_delta: self._run(planned, planned.request, on_delta))
        # Wait a moment before committing to 200: an early failure still gets its own status.
        # The client leaving (or the shutdown's grace ending) meanwhile is noticed at once.
        try:
            early = await until_disconnect(request, stream.wait(self.settings.heartbeat_s), self.expired)
        except BaseException:
            stream.cancel()
            raise
        if early and stream.failed_early() is not None:
            error = error_of(stream.task, planned.target)
            if error is not None:
                raise error
        report = StreamReport()
        self._streams.add(stream)

        def close() -> None:
            self._streams.discard(stream)
            stream.cancel()
            exchange.settle(report.status, [report.verdict] if report.verdict else None)

        body = sse(
            stream,
            surface.encoder(planned),
            planned.target,
            heartbeat_s=self.settings.heartbeat_s,
            report=report,
            on_close=close,
        )
        return EventStream(
            body,
            on_close=close,
            media_type="text/event-stream",
            headers={
                "cache-control": "no-cache",
                "x-accel-buffering": "no",
                "x-request-id": planned.request.request_id,
            },
        )

    # -- the app ---------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            *surface_routes(self),
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics_text, methods=["GET"]),
        ]

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            try:
                yield
            finally:
                self.metrics.worker_exit()
                await self.orchestrator.aclose()
                await self.responses.aclose()

        app = Starlette(
            routes=routes,
            exception_handlers={ApiError: _api_error, HTTPException: _http_error},
            lifespan=lifespan,
        )
        posts = {r.path: r.endpoint for r in routes if isinstance(r.endpoint, EnginePost)}
        # With [telemetry] on, a server span continues the caller's traceparent (else: the app itself).
        return self.orchestrator.tracer.asgi(Guard(app, self, posts))  # type: ignore[no-any-return]


async def read_json(request: HttpRequest, settings: Any) -> Any:
    """The body as JSON (see :mod:`~orchestrator.proxy.limits` for the bounds and the checks)."""
    return parse_json(await read_body(request, settings))


class JsonAnswer:
    """An engine request's 200 answer, sent as ASGI's two messages: the bytes Starlette's
    ``Response(body, media_type=JSON, headers=...)`` sends (the same headers in the same order),
    without building its header list per request."""

    __slots__ = ("body", "confidence", "request_id")

    status_code = 200

    def __init__(self, body: bytes, request_id: bytes, confidence: bytes) -> None:
        self.body = body
        self.request_id = request_id
        self.confidence = confidence

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [
            (b"x-request-id", self.request_id),
            (b"x-shoal-confidence", self.confidence),
            (b"content-length", str(len(self.body)).encode("latin-1")),
            (b"content-type", _JSON_TYPE),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


_JSON_TYPE = JSON.encode()


class EventStream(StreamingResponse):
    """A streaming response that always runs ``on_close``, even if its body never started.

    Its body is sent in the request's own task, watched by :func:`until_disconnect` (the
    protocol's :class:`~orchestrator.proxy.limits.Departure`, or a watcher task reading
    ``receive`` under another server): when the client leaves, the body's iteration is cancelled and the
    response ends quietly, as Starlette's own streaming response does with a task group
    (two tasks and anyio's cancel scopes per stream, which a pass-through's stream paid for).
    """

    def __init__(self, content: AsyncIterator[bytes], *, on_close: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await until_disconnect(Inbound(scope, receive), self._send_body(send))
        except ClientGone:
            pass  # the client left mid-stream: there is no one to answer
        finally:
            self._on_close()

    async def _send_body(self, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class Guard:
    """ASGI middleware in front of every route: cross-site refusals, and never a bare 500.

    Anything a route lets escape is answered in OpenAI's error shape (a client that left
    mid-body is logged as a 499, without a traceback). A ``POST`` to one of the engine's paths
    (``posts``) goes straight to its app, the rest through Starlette's routing.
    """

    def __init__(self, app: Starlette, proxy: Proxy, posts: dict[str, Any] | None = None) -> None:
        self.app = app
        self.proxy = proxy
        self.posts = posts or {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = cross_site_refusal(scope, auth_enabled=self.proxy.keys.enabled)
        if refusal is not None:
            await _send_error(send, refusal)
            return
        app = self.app
        if scope["method"] == "POST" and not scope.get("root_path"):
            app = self.posts.get(scope["path"], app)
        start: Any = None  # the response's start message, once sent

        async def tracked(message: Any) -> None:
            nonlocal start
            if start is None and message["type"] == "http.response.start":
                start = message
            await send(message)

        try:
            await app(scope, receive, tracked)
        except ClientGone:
            log.info("proxy_request", status=499, path=scope.get("path"))
        except asyncio.CancelledError:
            # uvicorn cancels what outlives its graceful shutdown: say so before going.
            with contextlib.suppress(Exception):
                if start is None:
                    await _send_error(send, shutting_down())
                elif _is_event_stream(start):
                    body = b"data: " + shutting_down().encoded() + b"\n\n"
                    await send({"type": "http.response.body", "body": body, "more_body": False})
            raise
        except Exception as exc:
            error = from_exception(exc)
            if start is None:
                await _send_error(send, error)


def _is_event_stream(start: Any) -> bool:
    """Whether a response's start message begins a server-sent event stream."""
    return any(k == b"content-type" and v.startswith(b"text/event-stream") for k, v in start["headers"])


async def _send_error(send: Any, error: ApiError) -> None:
    headers = [(b"content-type", JSON.encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": error.encoded()})


def bearer(request: HttpRequest) -> str | None:
    """The key the client presented, as a bearer header: ``Authorization`` or Anthropic's ``x-api-key``."""
    authorization = request.headers.get("authorization")
    if authorization:
        return authorization
    key = request.headers.get("x-api-key")
    return f"Bearer {key}" if key else None


def error_response(error: ApiError) -> Response:
    return Response(error.encoded(), status_code=error.status, media_type=JSON, headers=error.headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return error_response(ApiError(exc.status_code, message, code=code, headers=exc.headers))


def create_app(config: ShoalConfig, *, registry: Registry | None = None) -> Starlette:
    return Proxy(config, registry=registry).app()


def app_from_env() -> Starlette:
    """For ``--workers N``: each worker process builds its app from ``SHOAL_CONFIG``."""
    from orchestrator.proxy.limits import LimitedHttp

    config = load_config(os.environ.get("SHOAL_CONFIG") or None)
    configure_logging(os.environ.get("SHOAL_SERVE_LOG_LEVEL") or config.defaults.log_level)
    LimitedHttp.configure(config.server)
    return create_app(config)
