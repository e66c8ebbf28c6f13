"""Data that crosses Shoal's boundaries: requests, members, candidates, verdicts."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Call",
    "Candidate",
    "CandidateError",
    "Cluster",
    "Completion",
    "ContentPart",
    "Embeddings",
    "FunctionCall",
    "Locality",
    "Member",
    "Message",
    "Request",
    "Route",
    "SearchNode",
    "Tags",
    "ToolCall",
    "Usage",
    "Verdict",
    "assembled",
    "copied",
    "new_request_id",
]

Locality = Literal["local", "on_prem", "cloud"]


_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class _Plan:
    defaults: dict[str, Any]  # every field, in order, with its default (None when required)
    factories: tuple[tuple[str, Callable[[], Any]], ...]  # fields whose default comes from a factory


_PLANS: dict[type[BaseModel], _Plan | None] = {}


def assembled(cls: type[_M], /, **values: Any) -> _M:
    """``cls.model_construct(**values)``, for values that are already valid (a validated member's,
    completion's or request's parts), at half its cost on the hot path.

    The same instance as ``model_construct``: unnamed fields take their defaults (a fresh one
    from a default factory), the names given are the fields set, unknown names are dropped, and
    nothing is validated. A model with aliases, private attributes, extra fields or a post-init
    hook goes through ``model_construct`` itself.
    """
    plan = _PLANS.get(cls, _UNPLANNED)
    if plan is _UNPLANNED:
        plan = _PLANS[cls] = _plan(cls)
    if plan is None:
        return cls.model_construct(**values)
    fields = {**plan.defaults, **values}  # the fields' order, whatever the order of ``values``
    if len(fields) != len(plan.defaults):  # a name that is no field: dropped, as model_construct does
        fields = {name: fields[name] for name in plan.defaults}
        values = {name: value for name, value in values.items() if name in plan.defaults}
    for name, factory in plan.factories:
        if name not in values:
            fields[name] = factory()
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", fields)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


_UNPLANNED: Any = object()


def copied(model: _M, /, **update: Any) -> _M:
    """``model.model_copy(update=update)`` for values that are already valid, at a third of its cost.

    The same instance as ``model_copy``: a shallow copy whose fields set gains the updated names.
    A model ``assembled`` would not build itself goes through ``model_copy``.
    """
    cls = type(model)
    plan = _PLANS.get(cls, _UNPLANNED)
    if plan is _UNPLANNED:
        plan = _PLANS[cls] = _plan(cls)
    if plan is None or model.__pydantic_extra__ is not None or model.__pydantic_private__ is not None:
        return model.model_copy(update=update)
    copy = cls.__new__(cls)
    object.__setattr__(copy, "__dict__", {**model.__dict__, **update})
    object.__setattr__(copy, "__pydantic_fields_set__", model.__pydantic_fields_set__ | update.keys())
    object.__setattr__(copy, "__pydantic_extra__", None)
    object.__setattr__(copy, "__pydantic_private__", None)
    return copy


def _plan(cls: type[BaseModel]) -> _Plan | None:
    """Each field's default and default factory; None when ``model_construct`` does more."""
    if cls.__private_attributes__ or cls.model_config.get("extra") == "allow" or cls.__pydantic_post_init__:
        return None
    defaults: dict[str, Any] = {}
    factories = []
    for name, info in cls.__pydantic_fields__.items():
        if info.alias is not None or info.validation_alias is not None:
            return None
        defaults[name] = None if info.is_required() else info.default
        if info.default_factory is not None:
            if info.default_factory_takes_validated_data:
                return None
            factories.append((name, cast("Callable[[], Any]", info.default_factory)))
    return _Plan(defaults, tuple(factories))


def new_request_id() -> str:
    return "req_" + os.urandom(8).hex()  # 16 random hex digits, as a uuid4's first 16 (less its version)


class Usage(BaseModel):
    """Token counts; adding two usages sums them."""

    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return assembled(  # sums of validated counts
            Usage,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )

    @classmethod
    def of(cls, prompt: int, completion: int) -> Usage:
        return cls(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


class ContentPart(BaseModel):
    """A text part of a message's content; other keys of a part (``cache_control``) are dropped.

    Only text parts are taken: the policy can read text, not images, audio or files, so a
    part of another type is refused (a 400 at the proxy) instead of being sent unchecked.
    """

    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    arguments: str


class ToolCall(BaseModel):
    """A tool call in an assistant message of the history (``id``, ``function.name/arguments``)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    """One chat message in the OpenAI shape; only the fields below are kept and forwarded.

    Keys a message may carry beyond these (``audio``, ``refusal``, ``function_call``,
    ``annotations``, vendor extensions) are dropped here, so they never reach a member.
    Every field kept is read by the policy (:func:`orchestrator.sovereignty.policy.forwarded_texts`):
    ``content`` (the string, or each text part's ``text``), ``name``, each tool call's ``id``,
    ``function.name`` and ``function.arguments``, and ``tool_call_id``.
    """

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _text_parts_only(cls, value: Any) -> Any:
        """Every content part names its type, which is ``text``, and its text is a string."""
        for index, part in enumerate(value if isinstance(value, list) else ()):
            kind = part.get("type") if isinstance(part, dict) else None
            if not isinstance(kind, str):
                raise ValueError(f"content part {index} needs a string 'type' (such as 'text')")
            if kind != "text":
                raise ValueError(
                    f"content part type {kind!r} is not forwarded: Shoal's policy reads text only; "
                    "send the content as a string or as parts of type 'text'"
                )
            if not isinstance(part.get("text"), str):
                raise ValueError(f"content part {index} is of type 'text' but its 'text' is not a string")
        return value

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return ""


class Tags(BaseModel):
    """What the caller says about a request, beyond its messages."""

    model_config = ConfigDict(extra="forbid")

    sensitivity: str | None = None
    category: str | None = None
    max_cost_usd: float | None = Field(default=None, ge=0)
    max_calls: int | None = Field(default=None, ge=1)
    deadline_s: float | None = Field(default=None, gt=0)
    labels: dict[str, str] = Field(default_factory=dict)


class Request(BaseModel):
    """A question for the panel: chat messages, sampling params and tags.

    What reaches a member is ``messages`` and ``params`` (merged into each :class:`Call`
    with the member's own configured params): the policy reads every string in both
    (every message field, every param at any depth: ``tools`` with their descriptions and
    parameter schemas, ``tool_choice``, ``stop``, ``response_format`` and its JSON schema,
    dictionary keys too) before anything is sent. ``tags`` and ``request_id`` stay in
    Shoal. A field added here is read by the policy unless it is named in
    :data:`orchestrator.sovereignty.policy.NOT_FORWARDED`.
    """

    model_config = ConfigDict(extra="forbid")

    messages: list[Message]
    params: dict[str, Any] = Field(default_factory=dict)
    tags: Tags = Field(default_factory=Tags)
    request_id: str = Field(default_factory=new_request_id)

    @classmethod
    def of(cls, question: str | list[dict[str, Any]] | list[Message] | Request, **kwargs: Any) -> Request:
        if isinstance(question, Request):
            return question
        if isinstance(question, str):
            return cls(messages=[Message(role="user", content=question)], **kwargs)
        return cls(messages=list(question), **kwargs)  # type: ignore[arg-type]

    def question(self) -> str:
        """The text of the last user message: what the router and extractors read."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        return ""

    def wire_messages(self) -> list[dict[str, Any]]:
        return [m.model_dump(exclude_none=True) for m in self.messages]


class Member(BaseModel):
    """One model on a panel, with what the policy and the bill need to know of it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    provider: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    weight: float = Field(default=1.0, gt=0)
    vendor: str | None = None
    jurisdiction: str | None = None
    locality: Locality = "cloud"
    retains_data: bool = False
    input_cost_per_token: float | None = Field(default=None, ge=0)
    output_cost_per_token: float | None = Field(default=None, ge=0)
    api_base: str | None = None
    api_key_env: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    samples: int = Field(default=1, ge=1, le=32)
    """Self-consistency: the member sits on its teams as this many voters (seats ``NAME#1`` ..
    ``NAME#k``), each a sample of the same model with its own seed. The seats send the same
    messages to the same model as the member itself, so the policy's check of the member covers
    them; a provider that takes ``n`` is asked once with ``n = k``."""
    sample_of: str | None = None
    """On a seat: the member it samples (set by :meth:`seats`, not in configs)."""
    requests_per_minute: int | None = Field(default=None, ge=1)  # shared limits: orchestrator/state
    tokens_per_minute: int | None = Field(default=None, ge=1)

    @field_validator("jurisdiction")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @model_validator(mode="after")
    def _samples_need_sampling(self) -> Member:
        if self.samples > 1 and self.params.get("temperature") == 0:
            raise ValueError(
                f"samples = {self.samples} with temperature = 0 gives {self.samples} identical answers that"
                " always vote together; set a temperature above 0 (e.g. 0.7) in its params"
            )
        return self

    def seats(self) -> list[Member]:
        """The voters this member is on a team: itself, or ``samples`` seats with consecutive seeds.

        >>> [(m.name, m.params["seed"]) for m in Member(name="q", provider="p", model="m",
        ...     samples=2, params={"seed": 7}).seats()]
        [('q#1', 7), ('q#2', 8)]
        """
        if self.samples <= 1:
            return [self]
        seats = []
        for i in range(self.samples):
            params = dict(self.params)
            if isinstance(params.get("seed"), int):
                params["seed"] = params["seed"] + i
            update = {"name": f"{self.name}#{i + 1}", "samples": 1, "sample_of": self.name, "params": params}
            seats.append(self.model_copy(update=update))
        return seats

    def cost_of(self, usage: Usage) -> float | None:
        if self.input_cost_per_token is None and self.output_cost_per_token is None:
            return None
        return usage.prompt_tokens * (self.input_cost_per_token or 0.0) + usage.completion_tokens * (
            self.output_cost_per_token or 0.0
        )


class Call(BaseModel):
    """What a provider receives for one call: messages and merged params.

    ``labels`` are the request's ``tags.labels``, for providers that act on them
    (a simulated scripted member reads the gold answer a benchmark puts there);
    they are never sent upstream and are not part of the record/replay key.
    """

    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, Any]]
    params: dict[str, Any] = Field(default_factory=dict)
    sample_index: int = 0
    request_id: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    sensitivity: list[str] = Field(default_factory=list)  # passed on to a nested orchestrator


class Completion(BaseModel):
    """What a provider returns for one call."""

    model_config = ConfigDict(extra="forbid")

    text: str
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    logprobs: dict[str, Any] | None = None  # the backend's token log-probabilities, when asked for
    more: list[Completion] = Field(default_factory=list)
    """The other choices of a call made with ``n > 1`` (their usage is counted on the first)."""


class Embeddings(BaseModel):
    """What an embedding member returns: one vector per input, in order."""

    model_config = ConfigDict(extra="forbid")

    vectors: list[list[float]]
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)


class CandidateError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    message: str
    status: int | None = None
    retry_after: float | None = None


class SearchNode(BaseModel):
    """Where an answer sits in a tree search (``treesearch``): its node, parent, move and score.

    ``move`` is ``widen`` (a fresh answer to the question) or ``refine`` (an answer
    rewritten from its ``parent``); ``parent`` is None for a fresh answer.
    ``feedback`` is what the verifier said of it. It goes back to the caller in the verdict, and to a
    member asked to refine the answer only after the request's policy has read it (``treesearch``
    clears it as it clears a request: feedback may quote tests the request's messages do not hold).
    """

    model_config = ConfigDict(extra="forbid")

    id: int
    parent: int | None = None
    move: Literal["widen", "refine"]
    score: float = Field(ge=0.0, le=1.0)
    feedback: str = ""


class Candidate(BaseModel):
    """One member's answer to one call, or the reason it has none."""

    model_config = ConfigDict(extra="forbid")

    member: str
    model: str
    role: str = "answer"
    text: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    attempts: int = 1
    cached: bool = False
    error: CandidateError | None = None
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    logprobs: dict[str, Any] | None = None
    replaces: str | None = None  # the member whose seat this fallback took
    search: SearchNode | None = None  # set by a tree search on the answers it scored

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


class Cluster(BaseModel):
    """Candidates that gave the same answer.

    ``answer`` is one member's wording; ``key`` the canonical form they agreed on
    (``"1/2"`` for ``0.5`` and ``\\frac{1}{2}``, ``"B"`` for ``(B) Paris``).
    """

    model_config = ConfigDict(extra="forbid")

    answer: str
    members: list[str]
    indices: list[int]
    weight: float
    key: str | None = None


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str
    strategy: str
    team: str | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    reason: str = ""


class Verdict(BaseModel):
    """The panel's answer and everything needed to trust (or not) it.

    ``partial`` is set when a budget stopped the strategy before it finished;
    ``notes`` says in plain words what happened on the way (an early exit, an
    escalation, a judge that failed and the one that took over);
    ``tool_calls`` carries the agreed tool calls when the request offered tools.
    """

    model_config = ConfigDict(extra="forbid")

    answer: str
    confidence: float = Field(ge=0.0, le=1.0)
    abstained: bool = False
    strategy: str
    route: Route | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    clusters: list[Cluster] = Field(default_factory=list)
    dissent: str = ""
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    calls: int = 0
    partial: bool = False
    notes: list[str] = Field(default_factory=list)
    tool_calls: list[dict[str, Any]] | None = None
    request_id: str | None = None
    sensitivity: list[str] = Field(default_factory=list)
    cached: bool = False  # served from the response cache ([cache]): no member was called

    @property
    def failures(self) -> dict[str, str]:
        return {c.member: c.error.message for c in self.candidates if c.error is not None}
