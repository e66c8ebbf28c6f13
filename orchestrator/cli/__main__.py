"""``python -m orchestrator.cli``: the same as the ``shoal`` console script."""

from orchestrator.cli import main

main()
