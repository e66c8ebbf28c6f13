import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.engine import Orchestrator
from strategies.answers import answer_key, cluster, equivalent
from tests.helpers import scripted_config

ANSWERS = st.sampled_from(
    ["42", "41", "Paris", "paris.", "The capital of France is Paris.", "Lyon", "yes", "No", "7"]
)


@given(st.lists(ANSWERS, min_size=1, max_size=7), st.randoms())
@settings(max_examples=150, deadline=None)
def test_vote_is_independent_of_candidate_order(texts: list[str], rnd) -> None:
    names = [f"m{i}" for i in range(len(texts))]
    pairs = list(zip(texts, names, strict=True))
    rnd.shuffle(pairs)
    a = cluster(texts, members=names)
    b = cluster([t for t, _ in pairs], members=[n for _, n in pairs])
    assert [(c.answer, c.weight, sorted(c.members)) for c in a] == [
        (c.answer, c.weight, sorted(c.members)) for c in b
    ]


@given(st.lists(ANSWERS, min_size=1, max_size=7))
@settings(max_examples=150, deadline=None)
def test_winner_is_one_of_the_inputs_and_every_input_is_in_one_cluster(texts: list[str]) -> None:
    clusters = cluster(texts)
    assert clusters[0].answer in [t.strip() for t in texts]
    indices = sorted(i for c in clusters for i in c.indices)
    assert indices == list(range(len(texts)))


@given(ANSWERS, ANSWERS)
@settings(deadline=None)  # the first long text loads the embedding model
def test_equivalence_is_symmetric(a: str, b: str) -> None:
    for kind in ("text", "number", "yesno"):
        assert equivalent(a, b, kind) == equivalent(b, a, kind)


def test_number_keys() -> None:
    assert answer_key("#### 1,000", "number") == "1000"
    assert answer_key("The answer is 0.5", "number") == "1/2"
    assert answer_key("1000.0", "number") == "1000"


def test_three_scripted_members_42_42_41() -> None:
    config = scripted_config({"a": {"answers": ["42"]}, "b": {"answers": ["42"]}, "c": {"answers": ["41"]}})
    verdict = asyncio.run(_run(config))
    assert verdict.answer == "42"
    assert round(verdict.confidence, 2) == 0.67
    assert verdict.clusters[0].members == ["a", "b"]
    assert "c said '41'" in verdict.dissent
    assert verdict.calls == 3


def test_weights_change_the_winner() -> None:
    config = scripted_config(
        {"a": {"answers": ["42"]}, "b": {"answers": ["42"]}, "c": {"answers": ["41"], "weight": 3.0}}
    )
    verdict = asyncio.run(_run(config))
    assert verdict.answer == "41"
    assert verdict.confidence == 0.6


def test_failed_members_do_not_vote_but_are_reported() -> None:
    config = scripted_config(
        {"a": {"answers": ["42"]}, "b": {"fail": "server_error", "max_retries": 0}, "c": {"answers": ["41"]}}
    )
    verdict = asyncio.run(_run(config))
    assert verdict.confidence == 0.5
    assert verdict.failures.keys() == {"b"}
    assert "b failed (server_error)" in verdict.dissent


async def _run(config):
    async with Orchestrator(config) as orch:
        return await orch.run("What is six times seven?", strategy="vote")
