"""``shoal serve``: an OpenAI-compatible HTTP server in front of the engine.

Any OpenAI client points at ``http://127.0.0.1:8000/v1`` and picks a model:
``shoal/auto`` (the router decides), ``shoal/<strategy>`` (a configured
strategy) or a member's name (that one model, streamed straight through).

Modules: :mod:`~orchestrator.proxy.app` (the ASGI app and its routes),
:mod:`~orchestrator.proxy.schemas` (request validation, response shapes),
:mod:`~orchestrator.proxy.catalog` (model ids), :mod:`~orchestrator.proxy.streaming`
(server-sent events), :mod:`~orchestrator.proxy.auth`, :mod:`~orchestrator.proxy.metrics`,
:mod:`~orchestrator.proxy.errors` (Shoal's errors as OpenAI error JSON) and
:mod:`~orchestrator.proxy.server` (uvicorn, the banner, signals).

Nothing here is imported by ``import orchestrator`` or ``shoal --help``.
"""
