"""Forecasts: what theory says a vote scores, and panels of simulated members to check it.

A simulated member (``provider = "scripted"`` with ``simulate = { p, rho }``,
see :mod:`providers.simulated`) answers right with probability ``p``; with
``rho = 0`` members err independently and a majority of ``n`` of them is right
with the binomial (Condorcet) probability:

>>> round(condorcet(3, 0.7), 4)
0.784
>>> round(majority_accuracy([0.7, 0.7, 0.7]), 4)
0.784

:func:`simulated_panel` writes the config of such a panel, so ``shoal bench``
can forecast what voting would buy on a dataset before any call is paid for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["condorcet", "majority_accuracy", "simulated_panel"]


def condorcet(n: int, p: float) -> float:
    """Probability that more than half of ``n`` independent members, each right with ``p``, are right."""
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n // 2 + 1, n + 1))


def majority_accuracy(accuracies: Sequence[float]) -> float:
    """Like :func:`condorcet` for members of different accuracies (Poisson binomial), errors independent."""
    dist = [1.0]  # dist[k] = P(k members right so far)
    for p in accuracies:
        nxt = [0.0] * (len(dist) + 1)
        for k, mass in enumerate(dist):
            nxt[k] += mass * (1 - p)
            nxt[k + 1] += mass * p
        dist = nxt
    n = len(accuracies)
    return sum(dist[k] for k in range(n // 2 + 1, n + 1))


def simulated_panel(n: int, p: float, rho: float = 0.0, *, seed: int = 0, distractors: int = 3) -> str:
    """TOML for ``n`` simulated members of accuracy ``p`` and error correlation ``rho``, with
    ``single`` (the first member) and ``vote`` (all of them) strategies on team ``sim``."""
    if n < 1:
        raise ValueError("a simulated panel needs at least one member")
    lines: list[str] = []
    names = [f"sim{i + 1}" for i in range(n)]
    for name in names:
        lines += [
            f"[members.{name}]",
            'provider = "scripted"',
            f'model = "simulated-p{p:g}"',
            f"simulate = {{ p = {p!r}, rho = {rho!r}, seed = {seed}, distractors = {distractors} }}",
            "",
        ]
    members = ", ".join(f'"{m}"' for m in names)
    lines += [
        "[teams.sim]",
        f"members = [{members}]",
        "",
        "[strategies.single]",
        'kind = "single"',
        'team = "sim"',
        "",
        "[strategies.vote]",
        'kind = "vote"',
        'team = "sim"',
        "",
        "[defaults]",
        'strategy = "vote"',
        'team = "sim"',
    ]
    return "\n".join(lines) + "\n"
