"""A lean httpx provider for any OpenAI-compatible server.

The fast path for llama.cpp, vLLM, Ollama, LM Studio and OpenAI-compatible
APIs: one pooled :class:`httpx.AsyncClient` per base URL, shared by every
member that talks to it, and no per-call CPU overhead beyond JSON.

A member using it::

    [members.local-qwen]
    provider = "openai_compat"
    model = "qwen2.5-7b-instruct"
    api_base = "http://127.0.0.1:8080/v1"
    api_key_env = "LOCAL_LLM_KEY"          # optional
    options = { prompt_style = "chat" }    # or "completion", with prompt_template

``prompt_style = "completion"`` posts to ``/completions`` with a prompt built
from the messages (for base models): ``prompt_template`` is a ``str.format``
template with ``{question}`` and optionally ``{system}``; without one the
prompt is the last user message.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict

from orchestrator.errors import ConfigError, MalformedResponse, ProviderError, ServerError, TruncatedStream
from orchestrator.logs import get_logger
from orchestrator.protocols import ProviderContext, StreamDelta
from orchestrator.types import Call, Completion, Embeddings, Member, Message, Usage
from providers._http import (
    DEFAULT_TIMEOUT_S,
    api_key_from_env,
    error_from_httpx,
    merge_tool_call_deltas,
    upstream_message,
    usage_from,
)
from providers._transport import LeanTransport, RawResponse, sse_lines

__all__ = ["OpenAICompatOptions", "OpenAICompatProvider", "prompt_from_messages"]

PROVIDER = "openai_compat"
_STYLES = ("chat", "completion")
_RESERVED = frozenset({"model", "messages", "prompt", "stream", "stream_options"})
_DONE = object()
_EMBED_PARAMS = frozenset({"dimensions"})

log = get_logger("shoal.providers")


class OpenAICompatOptions(BaseModel):
    """The member keys this provider understands beyond the member's own fields.

    Any other key is a config error (``api_key`` is not one: the key comes from the
    environment variable ``api_key_env`` names).
    """

    model_config = ConfigDict(extra="forbid")

    api_base: str | None = None  # also accepted here; the member's own api_base wins
    prompt_style: Literal["chat", "completion"] = "chat"
    prompt_template: str | None = None


class OpenAICompatProvider:
    """One member on an OpenAI-compatible server (``POST {api_base}/chat/completions``)."""

    max_n = 16
    """A member's sample seats are asked in one request with ``n`` up to this many."""
    Options = OpenAICompatOptions

    def __init__(self, member: Member, context: ProviderContext) -> None:
        self.member = member
        self._context = context
        self._base_url = _base_url(member)
        key = api_key_from_env(member)
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._timeout = httpx.Timeout(member.timeout_s or DEFAULT_TIMEOUT_S)
        self._timeouts: dict[str, float | None] = self._timeout.as_dict()
        self._extensions = {"timeout": self._timeouts}
        self._wired: tuple[httpx.AsyncClient, httpx.Headers, dict[str, _Route]] | None = None
        self._style, self._template = _prompt_options(member)

    async def complete(self, call: Call) -> Completion:
        path, body = self._request(call, stream=False)
        try:
            async with self._posted(path, body) as (reply, url):
                content = await reply.read()
                if not 200 <= reply.status < 300:  # what httpx's raise_for_status raises for
                    _raise_status(reply.status, reply.headers, content, url)
        except httpx.HTTPError as exc:
            raise self._error(exc) from exc
        data = self._json(content)
        choice = self._first_choice(data)
        try:
            completion = self._choice(choice, data.get("model"), usage_from(data.get("usage")))
            if isinstance(call.params.get("n"), int) and call.params["n"] > 1:  # one request, n samples
                others = [c for c in data["choices"] if isinstance(c, dict) and c is not choice]
                more = [self._choice(c, data.get("model"), Usage()) for c in others]
                completion = completion.model_copy(update={"more": more})
        except (AttributeError, TypeError, ValueError) as exc:  # fields of the wrong type
            raise self._malformed(f"unexpected field types ({type(exc).__name__})") from exc
        return completion

    def _choice(self, choice: dict[str, Any], model: str | None, usage: Usage | None) -> Completion:
        message = choice.get("message") or {}
        text = choice.get("text") if self._style == "completion" else message.get("content")
        logprobs = choice.get("logprobs")
        return self._completion(
            text=text or "",
            model=model,
            usage=usage,
            finish_reason=choice.get("finish_reason"),
            tool_calls=message.get("tool_calls") or None,
            logprobs=logprobs if isinstance(logprobs, dict) else None,
        )

    async def stream(self, call: Call) -> AsyncIterator[StreamDelta]:
        path, body = self._request(call, stream=True)
        state = _StreamState()
        try:
            async with self._posted(path, body) as (reply, url):
                if reply.status >= 400:
                    _raise_status(reply.status, reply.headers, await reply.read(), url)
                async for line in reply.lines():
                    if state.done:
                        continue  # read to the end, so the connection goes back to the pool
                    chunk = self._sse_payload(line)
                    if chunk is _DONE:
                        state.done = True
                    elif isinstance(chunk, dict):
                        text, calls = self._add(state, chunk)
                        if text or calls:
                            yield StreamDelta(text=text, tool_calls=calls, logprobs=state.piece_logprobs)
        except httpx.HTTPError as exc:
            raise self._error(exc) from exc
        if not state.finished:
            # The body ended (connection closed, or a clean end of a chunked body) before the
            # stream said it was done: what arrived is not a whole answer.
            raise TruncatedStream(
                f"{PROVIDER} {self.member.model}: stream ended before [DONE] or a finish_reason",
                provider=PROVIDER,
                model=self.member.model,
            )
        if not state.chose:
            raise TruncatedStream(
                f"{PROVIDER} {self.member.model}: stream carried no choices",
                provider=PROVIDER,
                model=self.member.model,
            )
        completion = self._completion(
            text="".join(state.parts),
            model=state.model,
            usage=state.usage,
            finish_reason=state.finish_reason,
            tool_calls=[state.tool_calls[i] for i in sorted(state.tool_calls)] or None,
            logprobs={"content": state.logprobs, "refusal": None} if state.logprobs is not None else None,
        )
        yield StreamDelta(finish_reason=state.finish_reason, completion=completion)

    async def embed(self, texts: list[str], params: dict[str, Any]) -> Embeddings:
        """``POST {api_base}/embeddings``; ``params`` may carry ``dimensions`` (and ``user``)."""
        body = {
            **{k: v for k, v in params.items() if k in _EMBED_PARAMS},
            "model": self.member.model,
            "input": texts,
        }
        try:
            response = await self._client().post(
                "/embeddings", json=body, headers=self._headers, timeout=self._timeout
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise self._error(exc) from exc
        data = self._json(response.content)
        rows = data.get("data") if isinstance(data, dict) else None
        if not isinstance(rows, list) or len(rows) != len(texts):
            raise self._malformed(f"expected {len(texts)} embeddings, got {rows!r:.200}")
        ordered = sorted(rows, key=lambda row: int(row.get("index") or 0))
        return Embeddings(
            vectors=[[float(x) for x in row["embedding"]] for row in ordered],
            model=data.get("model") or self.member.model,
            usage=usage_from(data.get("usage")) or Usage(),
        )

    async def aclose(self) -> None:
        """Nothing of its own: the pooled client belongs to the context's exit stack."""

    @contextlib.asynccontextmanager
    async def _posted(
        self, path: str, body: dict[str, Any]
    ) -> AsyncIterator[tuple[RawResponse | _HttpxReply, httpx.URL]]:
        """POST ``body`` as JSON; the reply, its body still to read, closed on leaving, and its URL.

        The bytes sent are those of ``client.post(path, json=body, headers=...)``, but without
        the client's per-request machinery an API call does not use (cookie jar, auth flow,
        redirects, URL merging). On the lean transport (a plain ``http://`` server) they are
        written from a head built once per path, and the reply is read without httpx's request
        and response models; any other transport for the URL (a proxy's, ``https://``, a test's
        mock) gets an ``httpx.Request``.
        """
        client = self._client()
        if self._wired is None or self._wired[0] is not client:
            headers = httpx.Headers(client.headers)
            headers["Content-Type"] = "application/json"
            headers.update(self._headers)
            self._wired = (client, headers, {})
        _, headers, routes = self._wired
        route = routes.get(path)
        if route is None:
            route = routes[path] = _Route(client, path, headers)
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        reply: RawResponse | _HttpxReply
        if route.head is not None:
            assert isinstance(route.transport, LeanTransport)
            reply = await route.transport.send(
                route.host,
                route.port,
                b"%s%d\r\n\r\n%s" % (route.head, len(content), content),
                self._timeouts,
            )
        else:
            request = httpx.Request(
                "POST", route.url, headers=headers, content=content, extensions=self._extensions
            )
            response = await route.transport.handle_async_request(request)
            response.request = request
            reply = _HttpxReply(response)
        try:
            yield reply, route.url
        finally:
            await reply.aclose()

    def _client(self) -> httpx.AsyncClient:
        """The client pooled for this base URL; created on first use (it is event-loop bound)."""
        key = f"{PROVIDER}:client:{self._base_url}"
        client = self._context.shared.get(key)
        if client is None:
            client = httpx.AsyncClient(base_url=self._base_url, **_transport_for(self._base_url))
            self._context.shared[key] = client
            self._context.exit_stack.push_async_callback(client.aclose)
        return client

    def _request(self, call: Call, *, stream: bool) -> tuple[str, dict[str, Any]]:
        params = {k: v for k, v in call.params.items() if v is not None and k not in _RESERVED}
        if self._style == "completion":
            path = "/completions"
            body: dict[str, Any] = {
                **params,
                "model": self.member.model,
                "prompt": prompt_from_messages(call.messages, self._template),
            }
        else:
            path = "/chat/completions"
            body = {**params, "model": self.member.model, "messages": call.messages}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        log.debug("provider_request", provider=PROVIDER, member=self.member.name, path=path, stream=stream)
        return path, body

    def _completion(
        self,
        *,
        text: str,
        model: str | None,
        usage: Usage | None,
        finish_reason: str | None,
        tool_calls: list[dict[str, Any]] | None,
        logprobs: dict[str, Any] | None = None,
    ) -> Completion:
        usage = usage or Usage()
        return Completion(
            text=text,
            model=model or self.member.model,
            usage=usage,
            cost_usd=self.member.cost_of(usage),
            finish_reason=finish_reason,
            tool_calls=tool_calls,
            logprobs=logprobs,
        )

    def _json(self, raw: bytes | str) -> Any:
        try:
            return json.loads(raw)
        except ValueError as exc:  # the body itself is not repeated: it may echo the request
            raise self._malformed(f"not JSON ({len(raw)} bytes)") from exc
        except RecursionError as exc:
            raise self._malformed("JSON nested too deeply") from exc

    def _add(self, state: _StreamState, chunk: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None]:
        try:
            return state.add(chunk, self._style)
        except (AttributeError, TypeError, ValueError) as exc:  # fields of the wrong type
            raise self._malformed(f"unexpected field types in a chunk ({type(exc).__name__})") from exc

    def _first_choice(self, data: Any) -> dict[str, Any]:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices[0], dict):
            raise self._malformed("no choices in response")
        return choices[0]

    def _sse_payload(self, line: str) -> object:
        """A server-sent-events line: a chunk dict, ``_DONE``, or ``None`` for anything else."""
        if not line.startswith("data:"):
            return None  # blank separators, ": keep-alive" comments, "event:" lines
        payload = line[len("data:") :].strip()
        if payload == "[DONE]":
            return _DONE
        chunk = self._json(payload)
        if isinstance(chunk, dict) and chunk.get("error"):
            code = upstream_message(payload)
            raise ServerError(
                f"{PROVIDER} {self.member.model}: error event in the stream" + (f" ({code})" if code else ""),
                provider=PROVIDER,
                model=self.member.model,
            )
        return chunk

    def _malformed(self, why: str) -> ProviderError:
        return MalformedResponse(
            f"{PROVIDER} {self.member.model}: malformed response: {why}",
            provider=PROVIDER,
            model=self.member.model,
        )

    def _error(self, exc: httpx.HTTPError) -> ProviderError:
        error = error_from_httpx(exc, provider=PROVIDER, model=self.member.model)
        log.debug(
            "provider_error", provider=PROVIDER, member=self.member.name, kind=error.kind, status=error.status
        )
        return error


class _Route:
    """Where one path of a client's base URL goes: its URL, the transport the client picks for
    it, and, on the lean transport, the request head up to the Content-Length value.

    The head is cut from an ``httpx.Request`` built once with the same URL and headers, so the
    bytes written are the ones httpx would send; it is kept only when httpx puts
    Content-Length last, as it does (otherwise requests are built with httpx as usual).
    """

    __slots__ = ("head", "host", "port", "transport", "url")

    def __init__(self, client: httpx.AsyncClient, path: str, headers: httpx.Headers) -> None:
        self.url = client._merge_url(path)  # as the client joins it to its base URL
        self.transport = client._transport_for_url(self.url)
        self.host, self.port = self.url.host, self.url.port or 80
        self.head: bytes | None = None
        if isinstance(self.transport, LeanTransport) and self.url.scheme == "http":
            sample = httpx.Request("POST", self.url, headers=headers, content=b"{}")
            *before, (last, _) = sample.headers.raw
            if last.lower() == b"content-length":
                lines = [b"POST %s HTTP/1.1" % self.url.raw_path, *(b"%s: %s" % kv for kv in before)]
                self.head = b"\r\n".join(lines) + b"\r\n%s: " % last


class _HttpxReply:
    """An ``httpx.Response`` read as the provider reads a :class:`RawResponse`."""

    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response, self.status, self.headers = response, response.status_code, response.headers.raw

    async def read(self) -> bytes:
        return await self._response.aread()

    def lines(self) -> AsyncIterator[str]:
        return sse_lines(self._response.aiter_bytes())

    async def aclose(self) -> None:
        await self._response.aclose()


def _raise_status(status: int, headers: list[tuple[bytes, bytes]], content: bytes, url: httpx.URL) -> None:
    """Raise the ``httpx.HTTPStatusError`` httpx raises for ``status``, with its (decoded) body."""
    kept = [(k, v) for k, v in headers if k.lower() not in (b"content-encoding", b"content-length")]
    request = httpx.Request("POST", url)
    httpx.Response(status, headers=kept, content=content, request=request).raise_for_status()


@dataclass
class _StreamState:
    """What the chunks of one stream add up to."""

    parts: list[str] = field(default_factory=list)
    model: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    done: bool = False  # [DONE] came
    chose: bool = False  # some chunk carried a choice
    logprobs: list[dict[str, Any]] | None = None  # the content tokens' log-probabilities, when streamed
    piece_logprobs: dict[str, Any] | None = None  # those of the last chunk taken in

    @property
    def finished(self) -> bool:
        return self.done or self.finish_reason is not None

    def add(self, chunk: dict[str, Any], style: str) -> tuple[str, list[dict[str, Any]] | None]:
        """Take one chunk in; return its new text (maybe empty) and its tool-call pieces (or None)."""
        self.model = chunk.get("model") or self.model
        self.usage = usage_from(chunk.get("usage")) or self.usage
        choices = chunk.get("choices") or []
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return "", None
        self.chose = True
        choice = choices[0]
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        self._take_logprobs(choice.get("logprobs"))
        delta = choice.get("delta") or {}
        calls = [c for c in delta.get("tool_calls") or [] if isinstance(c, dict)] or None
        merge_tool_call_deltas(self.tool_calls, calls or [])
        text = (choice.get("text") if style == "completion" else delta.get("content")) or ""
        if not isinstance(text, str):
            raise TypeError("content is not a string")
        if text:
            self.parts.append(text)
        return text, calls

    def _take_logprobs(self, given: Any) -> None:
        """A chunk's ``logprobs`` (``{"content": [...]}``; null when not asked for), kept for the whole."""
        tokens = given.get("content") if isinstance(given, dict) else None
        if not isinstance(tokens, list):
            self.piece_logprobs = None
            return
        self.piece_logprobs = given
        if self.logprobs is None:
            self.logprobs = []
        self.logprobs.extend(tokens)


def prompt_from_messages(messages: list[dict[str, Any]], template: str | None) -> str:
    """A completion-style prompt: the last user message, optionally through ``template``.

    >>> prompt_from_messages([{"role": "user", "content": "2+2?"}], "Q: {question}\\nA:")
    'Q: 2+2?\\nA:'
    """
    parsed = [Message.model_validate(m) for m in messages]
    question = next((m.text() for m in reversed(parsed) if m.role == "user"), "")
    if template is None:
        return question
    system = "\n".join(m.text() for m in parsed if m.role == "system")
    return template.format(question=_without_cue(question, template), system=system)


def _without_cue(question: str, template: str) -> str:
    r"""``question`` without a trailing answer cue the template adds itself, and without trailing blanks.

    A question that already ends in "Answer:" would otherwise reach the model as
    "...Answer:\nAnswer:", and a base model stopped at the newline answers nothing.

    >>> _without_cue("2+2?\nAnswer:", "Question: {question}\nAnswer:")
    '2+2?'
    >>> _without_cue("Pick one.\n", "Q: {question}\nA:")
    'Pick one.'
    """
    question = question.rstrip()
    cue = template.rpartition("{question}")[2].strip()
    if cue and "{" not in cue and question.endswith(cue):
        question = question.removesuffix(cue).rstrip()
    return question


def _transport_for(base_url: str) -> dict[str, Any]:
    """The lean transport for plain ``http://`` servers, unless the environment sets a proxy
    (httpx honours those only with its own transport)."""
    proxied = any(os.environ.get(v) for v in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"))
    if base_url.startswith("http://") and not proxied:
        return {"transport": LeanTransport()}
    return {}


def _base_url(member: Member) -> str:
    base = member.api_base or member.options.get("api_base")
    if not base:
        raise ConfigError(
            f"member {member.name!r} uses provider {PROVIDER!r} but has no api_base "
            '(e.g. api_base = "http://127.0.0.1:8080/v1")',
            key=f"members.{member.name}.api_base",
        )
    base = str(base).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError(
            f"member {member.name!r}: api_base {base!r} must start with http:// or https://",
            key=f"members.{member.name}.api_base",
        )
    return base


def _prompt_options(member: Member) -> tuple[str, str | None]:
    style = member.options.get("prompt_style", "chat")
    template = member.options.get("prompt_template")
    where = f"members.{member.name}.options"
    if style not in _STYLES:
        raise ConfigError(f"prompt_style {style!r} is not one of {', '.join(_STYLES)}", key=where)
    if template is not None:
        try:
            str(template).format(question="", system="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"prompt_template may use only {{question}} and {{system}}: {exc!r}", key=where
            ) from exc
    return style, template
