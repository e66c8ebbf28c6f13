"""The API surfaces of ``shoal serve``, one module each, all thin adapters over the engine.

=====================  ==========================================================
module                 routes (each also without the ``/v1`` prefix)
=====================  ==========================================================
:mod:`.chat`           ``POST /v1/chat/completions``
:mod:`.models`         ``GET /v1/models``, ``GET /v1/models/{id}``
=====================  ==========================================================

Every surface that asks the engine turns its request into the same
:class:`~orchestrator.types.Request`, so the policy sees every field it forwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestrator.proxy.surfaces.base import Surface
from orchestrator.proxy.surfaces.chat import ChatSurface
from orchestrator.proxy.surfaces.models import ModelsSurface

if TYPE_CHECKING:
    from orchestrator.proxy.app import Proxy

__all__ = ["Surface", "surface_routes"]


def _post(proxy: Proxy, surface: Surface):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> Response:
        return await proxy.handle(request, surface)

    return endpoint


def surface_routes(proxy: Proxy) -> list[Route]:
    chat = ChatSurface(proxy)
    models = ModelsSurface(proxy)
    routes: list[Route] = []
    for prefix in ("/v1", ""):
        routes += [
            Route(prefix + "/chat/completions", _post(proxy, chat), methods=["POST"]),
            Route(prefix + "/models", models.list, methods=["GET"]),
            Route(prefix + "/models/{model_id:path}", models.get, methods=["GET"]),
        ]
    return routes
