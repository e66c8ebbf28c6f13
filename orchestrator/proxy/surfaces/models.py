"""``GET /v1/models`` and ``GET /v1/models/{id}`` (also without the ``/v1`` prefix)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.proxy.catalog import Target
from orchestrator.proxy.errors import ApiError
from orchestrator.proxy.surfaces.base import JSON, dumps, openai_error

if TYPE_CHECKING:
    from orchestrator.proxy.app import Proxy

__all__ = ["ModelsSurface", "model_entry"]


def model_entry(target: Target, created: int) -> dict[str, Any]:
    return {"id": target.id, "object": "model", "created": created, "owned_by": target.owned_by}


class ModelsSurface:
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    async def list(self, request: Request) -> Response:
        try:
            self.proxy.authorize(request)
        except ApiError as exc:
            return openai_error(exc)
        data = [model_entry(t, self.proxy.created) for t in self.proxy.catalog]
        return Response(dumps({"object": "list", "data": data}), media_type=JSON)

    async def get(self, request: Request) -> Response:
        try:
            self.proxy.authorize(request)
            target = self.proxy.target(request.path_params["model_id"], param=None)
        except ApiError as exc:
            return openai_error(exc)
        return Response(dumps(model_entry(target, self.proxy.created)), media_type=JSON)
