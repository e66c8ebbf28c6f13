"""An answer tree searched by adaptive branching (AB-MCTS with node aggregation), in plain Python.

Each node is an answer with a score in [0, 1]; the root is the question. At
every node the search keeps Beta posteriors over scores: ``fresh`` (the scores
of the answers generated *from* it: at the root these are fresh answers, the
*wider* move; below it, refinements of that node) and ``onward`` (the scores
met by going down into one of its existing children), and each child has a
posterior over the scores of its own subtree. Choosing where to go next is a
walk down from the root: at each node Thompson sampling draws from
``fresh`` and ``onward``; ``fresh`` wins -> generate from here (widen at
the root, refine below), ``onward`` wins -> step into the child whose subtree
posterior draws highest, and repeat; a leaf is always refined. A new score
updates its parent's ``fresh`` posterior and, walking up, the subtree
posterior of every ancestor and the ``onward`` posterior of each ancestor's
parent. This is AB-MCTS-A of Inoue et al. (2025), "Wider or Deeper? Scaling
LLM Inference-Time Compute with Adaptive Branching Tree Search", with Beta
posteriors (scores are fractions) rather than its default Gaussian ones.

Which member writes the new answer is a separate bandit, as in TreeQuest's
``multiarm_bandit_thompson``: one Beta posterior per member over the scores of
every answer it wrote anywhere in the tree; the member whose draw is highest is
asked. So the search learns, within one request, which model pays off.

>>> import random
>>> tree = SearchTree(["a", "b"], rng=random.Random(0))
>>> plan = tree.choose()
>>> plan.parent is None            # an empty tree can only widen
True
>>> node = tree.tell(plan, 0.25)
>>> node.move, node.score, tree.fresh_answers
('widen', 0.25, 1)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Beta", "Node", "Plan", "SearchTree"]

Move = Literal["widen", "refine"]


@dataclass(slots=True)
class Beta:
    """A Beta posterior over scores in [0, 1]: a score ``s`` adds ``s`` to ``a`` and ``1 - s`` to ``b``."""

    a: float = 0.5
    b: float = 0.5
    n: int = 0

    def observe(self, score: float) -> None:
        score = min(1.0, max(0.0, score))
        self.a += score
        self.b += 1.0 - score
        self.n += 1

    def draw(self, rng: random.Random) -> float:
        return rng.betavariate(self.a, self.b)

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)


@dataclass(eq=False)
class Node:
    """An answer in the tree (the root, ``id`` 0, is the question and has no member or score)."""

    id: int
    parent: Node | None
    member: str | None
    score: float
    move: Move | None
    fresh: Beta
    onward: Beta
    subtree: Beta
    children: list[Node] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    def path(self) -> list[Node]:
        """From the first answer down to this one (the root left out)."""
        nodes: list[Node] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]


@dataclass(frozen=True, slots=True)
class Plan:
    """The next answer to generate: by ``member``, fresh (``parent`` None) or refining ``parent``."""

    member: str
    parent: Node | None

    @property
    def move(self) -> Move:
        return "widen" if self.parent is None else "refine"


class SearchTree:
    """The tree, its posteriors and the member bandit; :meth:`choose` then :meth:`tell`, repeatedly."""

    def __init__(
        self,
        members: Sequence[str],
        *,
        prior: tuple[float, float] = (0.5, 0.5),
        member_priors: dict[str, tuple[float, float]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not members:
            raise ValueError("a search needs at least one member")
        self.prior = prior
        self.rng = rng or random.Random(0)
        self.nodes: list[Node] = []
        self.root = self._node(None, None, 0.0, None)
        priors = member_priors or {}
        self.members = {m: Beta(*priors.get(m, prior)) for m in members}

    def _node(self, parent: Node | None, member: str | None, score: float, move: Move | None) -> Node:
        a, b = self.prior
        return Node(
            id=len(self.nodes) + 1 if parent is not None else 0,
            parent=parent,
            member=member,
            score=score,
            move=move,
            fresh=Beta(a, b),
            onward=Beta(a, b),
            subtree=Beta(a, b),
        )

    # -- choosing ----------------------------------------------------------------------

    def choose(self) -> Plan:
        """Where to generate next and who writes it (a batch calls this several times before telling)."""
        return Plan(member=self.pick_member(), parent=self.pick_parent())

    def pick_parent(self) -> Node | None:
        """The node to refine, or None to widen: the Thompson-sampled walk down from the root."""
        node = self.root
        while node.children:
            if node.fresh.draw(self.rng) >= node.onward.draw(self.rng):
                break
            node = max(node.children, key=lambda child: child.subtree.draw(self.rng))
        return None if node is self.root else node

    def pick_member(self) -> str:
        """The member whose posterior over its answers' scores draws highest."""
        if len(self.members) == 1:
            return next(iter(self.members))
        return max(self.members, key=lambda m: self.members[m].draw(self.rng))

    # -- telling -----------------------------------------------------------------------

    def tell(self, plan: Plan, score: float) -> Node:
        """Add the answer ``plan`` produced with its ``score``; update every posterior on its way up."""
        parent = plan.parent or self.root
        node = self._node(parent, plan.member, score, plan.move)
        node.subtree.observe(score)
        parent.children.append(node)
        self.nodes.append(node)
        self.members[plan.member].observe(score)
        parent.fresh.observe(score)
        current = parent
        while current.parent is not None:
            current.subtree.observe(score)
            current.parent.onward.observe(score)
            current = current.parent
        return node

    def failed(self, plan: Plan) -> None:
        """A generation that gave no answer: a zero for its member and for generating from its parent."""
        self.members[plan.member].observe(0.0)
        (plan.parent or self.root).fresh.observe(0.0)

    def rescore(self, node: Node, score: float) -> None:
        """Change a node's score after the search (a verifier whose scores depend on the whole tree)."""
        node.score = score

    # -- reading -----------------------------------------------------------------------

    @property
    def fresh_answers(self) -> int:
        return sum(1 for n in self.nodes if n.move == "widen")

    @property
    def refinements(self) -> int:
        return sum(1 for n in self.nodes if n.move == "refine")

    def best(self) -> Node | None:
        """The highest-scoring node; the earliest among equals (deterministic)."""
        return max(self.nodes, key=lambda n: (n.score, -n.id), default=None)
