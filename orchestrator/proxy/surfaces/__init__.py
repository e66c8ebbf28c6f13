"""The API surfaces of ``shoal serve``, one module each, all thin adapters over the engine.

=====================  ==========================================================
module                 routes (each also without the ``/v1`` prefix)
=====================  ==========================================================
:mod:`.chat`           ``POST /v1/chat/completions``
:mod:`.models`         ``GET /v1/models``, ``GET /v1/models/{id}``
:mod:`.responses`      ``POST /v1/responses``, ``GET``/``DELETE /v1/responses/{id}``,
                       ``GET /v1/responses/{id}/input_items``
:mod:`.messages`       ``POST /v1/messages``, ``POST /v1/messages/count_tokens`` (Anthropic)
:mod:`.embeddings`     ``POST /v1/embeddings`` (a member that embeds)
:mod:`.completions`    ``POST /v1/completions`` (the prompt as one user message)
=====================  ==========================================================

Every surface that asks the engine turns its request into the same
:class:`~orchestrator.types.Request`, so the policy sees every field it forwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.routing import Route

from orchestrator.proxy.inbound import Inbound
from orchestrator.proxy.surfaces.base import Surface
from orchestrator.proxy.surfaces.chat import ChatSurface
from orchestrator.proxy.surfaces.completions import CompletionsSurface
from orchestrator.proxy.surfaces.embeddings import EmbeddingsSurface
from orchestrator.proxy.surfaces.messages import MessagesSurface
from orchestrator.proxy.surfaces.models import ModelsSurface
from orchestrator.proxy.surfaces.responses import ResponsesSurface

if TYPE_CHECKING:
    from orchestrator.proxy.app import Proxy

__all__ = ["EnginePost", "Surface", "surface_routes"]


class EnginePost:
    """The ASGI app of one route that asks the engine: the proxy's pipeline over ``surface``.

    The app's guard calls it directly for its paths (before Starlette's routing and middleware,
    which add nothing it needs); Starlette's route serves it otherwise (a ``root_path``).
    """

    def __init__(self, proxy: Proxy, surface: Surface) -> None:
        self.proxy = proxy
        self.surface = surface

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        response = await self.proxy.handle(Inbound(scope, receive), self.surface)
        await response(scope, receive, send)


def _post(proxy: Proxy, surface: Surface) -> EnginePost:
    return EnginePost(proxy, surface)


def surface_routes(proxy: Proxy) -> list[Route]:
    chat = ChatSurface(proxy)
    models = ModelsSurface(proxy)
    responses = ResponsesSurface(proxy)
    messages = MessagesSurface(proxy)
    embeddings = EmbeddingsSurface(proxy)
    completions = CompletionsSurface(proxy)
    routes: list[Route] = []
    for prefix in ("/v1", ""):
        routes += [
            Route(prefix + "/chat/completions", _post(proxy, chat), methods=["POST"]),
            Route(prefix + "/responses", _post(proxy, responses), methods=["POST"]),
            Route(prefix + "/responses/{response_id}", responses.retrieve, methods=["GET"]),
            Route(prefix + "/responses/{response_id}", responses.delete, methods=["DELETE"]),
            Route(prefix + "/responses/{response_id}/input_items", responses.input_items, methods=["GET"]),
            Route(prefix + "/messages", _post(proxy, messages), methods=["POST"]),
            Route(prefix + "/messages/count_tokens", messages.count_tokens, methods=["POST"]),
            Route(prefix + "/embeddings", embeddings.handle, methods=["POST"]),
            Route(prefix + "/completions", _post(proxy, completions), methods=["POST"]),
            Route(prefix + "/models", models.list, methods=["GET"]),
            Route(prefix + "/models/{model_id:path}", models.get, methods=["GET"]),
        ]
    return routes
