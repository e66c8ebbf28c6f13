"""State that outlives one request: behind small interfaces, so a shared backend can stand in.

:mod:`~orchestrator.state.responses` keeps the Responses API's stored responses.
"""
