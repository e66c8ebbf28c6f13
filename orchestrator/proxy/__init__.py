"""``shoal serve``: an OpenAI- and Anthropic-compatible HTTP server in front of the engine.

Any OpenAI client points at ``http://127.0.0.1:8000/v1`` and picks a model:
``shoal/auto`` (the router decides), ``shoal/<strategy>`` (a configured
strategy) or a member's name (that one model, streamed straight through).

Modules: :mod:`~orchestrator.proxy.app` (the ASGI app and the pipeline every surface
shares: auth, limits, the engine, errors, metrics), :mod:`~orchestrator.proxy.surfaces`
(one module per API surface: chat completions, responses, messages, embeddings,
completions, models), :mod:`~orchestrator.proxy.catalog` (model ids),
:mod:`~orchestrator.proxy.streaming` (server-sent events, checked against what was
sent), :mod:`~orchestrator.proxy.auth`, :mod:`~orchestrator.proxy.metrics`,
:mod:`~orchestrator.proxy.errors` (Shoal's errors as OpenAI error JSON),
:mod:`~orchestrator.proxy.inbound` (the engine routes' requests read straight from ASGI,
and the watch that cancels a request's work when its client leaves),
:mod:`~orchestrator.proxy.limits` (bounds on heads, bodies and JSON; uvicorn's protocol
with them) and :mod:`~orchestrator.proxy.server` (uvicorn, the banner, signals).

Nothing here is imported by ``import orchestrator`` or ``shoal --help``.
"""
