"""Run items x strategies through the engine, record every call, resume where a run stopped.

Each strategy is used by name through :class:`~orchestrator.engine.Orchestrator`,
with its ``answer_type`` option set to the item's answer type (when the
strategy has that option and the config leaves it at ``auto``), so votes cluster
answers the way the scorer compares them. Unless told otherwise every member
of the panel also answers alone (strategy ``member:NAME``, a ``single``), which
costs nothing extra: its call is the one the ensemble made, served by the cache.

Every model call goes through a :class:`~orchestrator.cache.CallCache`
(``DIR/calls.sqlite`` unless ``cache_path`` says otherwise): a re-run makes no
new call and ``replay`` mode refuses to make any. ``DIR/results.jsonl`` gets one
complete line per (item, strategy) as soon as it is scored; a run that stops
(Ctrl-C, a crash) resumes from those lines, and a line whose strategy or panel
has changed since is run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from orchestrator.bench.datasets import BenchItem
from orchestrator.bench.prompts import labels_for, messages_for, question_of
from orchestrator.bench.scoring import DEFAULT_CODE_TIMEOUT_S, score
from orchestrator.cache import CallCache
from orchestrator.config import ShoalConfig, StrategyConfig
from orchestrator.errors import ShoalError, UsageError
from orchestrator.logs import get_logger
from orchestrator.registry import Registry
from orchestrator.types import Candidate, Member, Verdict

__all__ = ["MEMBER_PREFIX", "BenchOutcome", "BenchRunner", "BenchSettings", "critical_path"]

log = get_logger("shoal.bench")

MEMBER_PREFIX = "member:"
RESULTS = "results.jsonl"
MANIFEST = "manifest.json"
_MAX_TEXT = 4000


@dataclass
class BenchSettings:
    strategies: list[str]
    out: Path
    baseline: str | None = None
    concurrency: int = 4
    replay: bool = False
    cache_path: Path | None = None
    fresh: bool = False
    members: bool = True
    code_timeout_s: float = DEFAULT_CODE_TIMEOUT_S


@dataclass
class BenchOutcome:
    """The rows of the selected items for the run's strategies, in item order, and what the run cost."""

    rows: list[dict[str, Any]]
    strategies: list[str]
    members: list[str]
    baseline: str
    new_calls: int
    cached_calls: int
    replay_misses: int
    elapsed_s: float
    complete: bool
    item_ids: list[str] = field(default_factory=list)


def critical_path(candidates: Sequence[Candidate]) -> float:
    """Latency of an answer from its calls: the slowest call of each role, summed over roles.

    A fan-out (one role) takes as long as its slowest member; a judge or a
    second round adds its own. Recorded latencies make this reproducible on replay.
    """
    slowest: dict[str, float] = {}
    for c in candidates:
        slowest[c.role] = max(slowest.get(c.role, 0.0), c.latency_s)
    return sum(slowest.values())


class BenchRunner:
    """One benchmark: a dataset selection, strategies, a config and an output directory."""

    def __init__(
        self,
        config: ShoalConfig,
        items: Sequence[BenchItem],
        dataset: dict[str, Any],
        settings: BenchSettings,
        *,
        registry: Registry | None = None,
    ) -> None:
        if not settings.strategies:
            raise UsageError("no strategies to benchmark; pass --strategies single,vote (names or kinds)")
        if settings.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        self.config = config
        self.items = list(items)
        self.dataset = dataset
        self.settings = settings
        self.registry = registry or Registry()
        self.out = settings.out
        self.baseline = settings.baseline or settings.strategies[0]
        if self.baseline not in settings.strategies:
            raise UsageError(
                f"baseline {self.baseline!r} is not among --strategies {','.join(settings.strategies)}"
            )
        self.member_teams = self._panel() if settings.members else {}
        self.run_order = [*settings.strategies, *(MEMBER_PREFIX + m for m in self.member_teams)]
        self.bench_config, self.sections, self.fingerprints = self._bench_config()
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._new_calls = self._cached_calls = self._replay_misses = 0
        self._started = time.perf_counter()

    # -- planning ----------------------------------------------------------------------

    def _panel(self) -> dict[str, str]:
        """Members of the teams the benchmarked strategies use, each with its (first) team."""
        teams: dict[str, str] = {}
        for name in self.settings.strategies:
            section = self.config.strategy_config(name, self.registry)
            team = section.team or self.config.team_of(section)
            for member in self.config.team_members(team):
                teams.setdefault(member.sample_of or member.name, team)  # a sampled member answers once
        return teams

    def _bench_config(self) -> tuple[ShoalConfig, dict[tuple[str, str], str], dict[str, str]]:
        """The config with one section per (strategy, answer type), and a fingerprint per strategy.

        The strategies a strategy runs by name (a cascade's stages) get typed copies too, so
        every stage compares answers the way the scorer does, not with ``answer_type = auto``.
        """
        kinds = sorted({item.answer_type for item in self.items})
        strategies = dict(self.config.strategies)
        sections: dict[tuple[str, str], str] = {}
        fingerprints: dict[str, str] = {}
        for name in self.run_order:
            base = self._base_section(name)
            team = base.team or self.config.team_of(base)
            for kind in kinds:
                sections[(name, kind)] = self._typed(name, base, kind, strategies)
            stages = [strategies[k].model_dump() for k in sorted(strategies) if k.startswith(f"{name}>")]
            fingerprints[name] = _fingerprint(base, self.config.team_members(team), stages)
        return self.config.model_copy(update={"strategies": strategies}), sections, fingerprints

    def _typed(
        self,
        name: str,
        base: StrategyConfig,
        kind: str,
        strategies: dict[str, StrategyConfig],
        depth: int = 0,
    ) -> str:
        """Add the copy of ``base`` for items of answer type ``kind`` (and of its stages); its key."""
        team = base.team or self.config.team_of(base)
        strategy_class = self.registry.strategy(base.kind)
        options_model = getattr(strategy_class, "Options", None)
        takes_type = options_model is not None and "answer_type" in options_model.model_fields
        options = base.options()
        if takes_type and options.get("answer_type") in (None, "auto"):
            options["answer_type"] = kind
        if options_model is not None and depth < 8:  # stage references; config check refuses cycles
            with contextlib.suppress(ValidationError):
                for key, what, ref in options_model.model_validate(options).references():
                    if what == "strategy" and isinstance(options.get(key), str):
                        stage = self.config.strategy_config(ref, self.registry)
                        stage_key = f"{name}>{ref}"
                        options[key] = self._typed(stage_key, stage, kind, strategies, depth + 1)
        section = StrategyConfig(kind=base.kind, team=team, description=base.description, **options)
        key = f"{name}@{kind}"
        strategies[key] = section
        return key

    def _base_section(self, name: str) -> StrategyConfig:
        if name.startswith(MEMBER_PREFIX):
            member = name.removeprefix(MEMBER_PREFIX)
            return StrategyConfig.model_validate(
                {"kind": "single", "team": self.member_teams[member], "member": member}
            )
        return self.config.strategy_config(name, self.registry)

    @property
    def total(self) -> int:
        return len(self.items) * len(self.run_order)

    # -- state on disk -----------------------------------------------------------------

    def prepare(self) -> int:
        """Make the output directory, check it holds this benchmark, load its finished rows (how many)."""
        self.out.mkdir(parents=True, exist_ok=True)
        manifest = {
            "dataset": self.dataset.get("name"),
            "items": len(self.items),
            "selection": hashlib.sha256("\n".join(i.id for i in self.items).encode()).hexdigest()[:16],
        }
        path = self.out / MANIFEST
        results = self.out / RESULTS
        if self.settings.fresh and results.exists():
            results.unlink()
        elif path.exists() and results.exists():
            old = json.loads(path.read_text(encoding="utf-8"))
            if old != manifest:
                raise UsageError(
                    f"{self.out} holds another benchmark ({old.get('dataset')}, {old.get('items')} items); "
                    "pass another --out, or --fresh to discard its results (its call cache is kept)"
                )
        _write_atomic(path, json.dumps(manifest, indent=2) + "\n")
        wanted = {i.id for i in self.items}
        kept: list[dict[str, Any]] = []
        for row in _read_rows(results):
            current = self.fingerprints.get(row["strategy"])
            if current is not None and row.get("fp") != current:
                continue  # the strategy or its panel changed since: run it again
            kept.append(row)
            if row["item"] in wanted and current is not None:
                self._rows[(row["item"], row["strategy"])] = row
        if results.exists():
            _write_atomic(results, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
        return len(self._rows)

    # -- running -----------------------------------------------------------------------

    async def run(self, on_result: Callable[[dict[str, Any]], None] | None = None) -> BenchOutcome:
        """Run what is not done yet; Ctrl-C (cancellation) leaves every finished row on disk."""
        from orchestrator.engine import Orchestrator

        cache_path = self.settings.cache_path or self.out / "calls.sqlite"
        if self.settings.replay and not cache_path.exists():
            raise UsageError(
                f"--replay needs recorded calls, and {cache_path} does not exist;"
                " run without --replay first, or pass --cache"
            )
        cache = CallCache(cache_path, "replay" if self.settings.replay else "record")
        orch = Orchestrator(self.bench_config, registry=self.registry, cache=cache)
        try:
            for section in self.sections.values():
                orch.strategy(section)
        except ValidationError as exc:
            await orch.aclose()
            cache.close()
            raise UsageError(f"strategy options: {exc.errors()[0]['msg']}") from None
        gate = asyncio.Semaphore(self.settings.concurrency)
        self._started = time.perf_counter()
        misses_before, hits_before = cache.misses, cache.hits
        handle = (self.out / RESULTS).open("a", encoding="utf-8")
        try:
            async with asyncio.TaskGroup() as group:
                for item in self.items:
                    if any((item.id, s) not in self._rows for s in self.run_order):
                        group.create_task(self._item(orch, item, gate, handle, on_result))
        finally:
            handle.close()
            if self.settings.replay:
                self._replay_misses = cache.misses - misses_before
            else:
                self._new_calls = cache.misses - misses_before
            self._cached_calls = cache.hits - hits_before
            try:
                await orch.aclose()
            finally:
                cache.close()
        return self.outcome(complete=True)

    async def _item(
        self,
        orch: Any,
        item: BenchItem,
        gate: asyncio.Semaphore,
        handle: TextIO,
        on_result: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        async with gate:
            for name in self.run_order:
                if (item.id, name) in self._rows:
                    continue
                row = await self._one(orch, item, name)
                self._rows[(item.id, name)] = row
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                handle.flush()
                if on_result is not None:
                    on_result(row)

    async def _one(self, orch: Any, item: BenchItem, name: str) -> dict[str, Any]:
        section = self.sections[(name, item.answer_type)]
        verdict: Verdict | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            # cache=False: a bench runs each strategy (its call cache, not [cache], replays calls)
            tags = {"labels": labels_for(item)}
            verdict = await orch.run(messages_for(item), strategy=section, tags=tags, cache=False)
        except ShoalError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a broken strategy costs its item, not the benchmark
            log.warning("bench_strategy_failed", item=item.id, strategy=name, error=repr(exc))
            error = f"{type(exc).__name__}: {exc}"
        row = self._row(item, name, verdict, error, time.perf_counter() - started)
        if verdict is not None and not verdict.abstained:
            judged = await asyncio.to_thread(
                score, item, verdict.answer, code_timeout_s=self.settings.code_timeout_s
            )
            row.update(
                status="correct" if judged.correct else "wrong", extracted=judged.extracted, note=judged.note
            )
        return row

    def _row(
        self, item: BenchItem, name: str, verdict: Verdict | None, error: str | None, wall_s: float
    ) -> dict[str, Any]:
        candidates = verdict.candidates if verdict is not None else []
        return {
            "item": item.id,
            "strategy": name,
            "fp": self.fingerprints[name],
            "answer_type": item.answer_type,
            "gold": item.answer if item.answer_type != "code" else "",
            "status": "error" if verdict is None else "abstained" if verdict.abstained else "wrong",
            "answer": verdict.answer[:_MAX_TEXT] if verdict is not None else None,
            "extracted": None,
            "confidence": verdict.confidence if verdict is not None else None,
            "calls": verdict.calls if verdict is not None else 0,
            "cached_calls": sum(1 for c in candidates if c.cached),
            "tokens": verdict.usage.total_tokens if verdict is not None else 0,
            "cost_usd": verdict.cost_usd if verdict is not None else 0.0,
            "latency_s": critical_path(candidates),
            "wall_s": wall_s,
            "error": error,
            "note": None,
            "notes": list(verdict.notes) if verdict is not None else [],
            "category": verdict.route.category if verdict is not None and verdict.route else None,
            "candidates": [
                {
                    "member": c.member,
                    "role": c.role,
                    "text": (c.text or "")[:_MAX_TEXT] if c.error is None else None,
                    "error": c.error.type if c.error is not None else None,
                    **({"search": c.search.model_dump()} if c.search is not None else {}),
                }
                for c in candidates
            ],
            # for report.html: what was asked, and which members agreed on what
            "question": _question(item)[:_MAX_TEXT],
            "clusters": [
                {"answer": c.answer[:_MAX_TEXT], "members": c.members, "weight": c.weight, "key": c.key}
                for c in (verdict.clusters if verdict is not None else [])
            ],
        }

    def outcome(self, *, complete: bool) -> BenchOutcome:
        order = {name: k for k, name in enumerate(self.run_order)}
        rows = [
            self._rows[(item.id, name)]
            for item in self.items
            for name in sorted(order, key=order.__getitem__)
            if (item.id, name) in self._rows
        ]
        return BenchOutcome(
            rows=rows,
            strategies=list(self.settings.strategies),
            members=list(self.member_teams),
            baseline=self.baseline,
            new_calls=self._new_calls,
            cached_calls=self._cached_calls,
            replay_misses=self._replay_misses,
            elapsed_s=time.perf_counter() - self._started,
            complete=complete and len(rows) == self.total,
            item_ids=[i.id for i in self.items],
        )


def _question(item: BenchItem) -> str:
    """The item's question with its options, as a reader of the report wants it (no instructions)."""
    if item.question is None:
        return question_of(item)
    options = [f"{chr(65 + i)}. {choice}" for i, choice in enumerate(item.choices or [])]
    return "\n".join([item.question, *options])


def _fingerprint(
    section: StrategyConfig, members: Sequence[Member], stages: Sequence[dict[str, Any]] = ()
) -> str:
    blob = json.dumps(
        {
            "section": section.model_dump(),
            "members": [m.model_dump(mode="json") for m in members],
            **({"stages": list(stages)} if stages else {}),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a results file; a torn last line (a run killed mid-write) is dropped."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                log.warning("bench_torn_line_dropped", file=str(path), line=number)
                continue
            raise UsageError(
                f"{path}:{number}: not a JSON line; the results file is damaged, pass --fresh to start over"
            ) from None
    return rows


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
