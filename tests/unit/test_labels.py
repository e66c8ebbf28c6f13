"""Sensitivity labels fail closed in the library: normalised, and an unknown one is a usage error."""

from __future__ import annotations

import pytest

from orchestrator.errors import ShoalError, UnknownSensitivityError, UsageError
from orchestrator.sovereignty.policy import Policy, PolicyConfig
from orchestrator.types import Request, Tags
from tests.helpers import Counted
from tests.unit.test_policy import MEMBERS, POLICY


@pytest.mark.parametrize("told", ["CONFIDENTIAL", " Confidential ", "confidential,\tconfidential"])
def test_case_and_whitespace_do_not_matter(told: str) -> None:
    counted = Counted()
    verdict = counted.orchestrator(MEMBERS, POLICY).run_sync(
        "What is six times seven?", tags={"sensitivity": told}
    )
    assert verdict.sensitivity == ["confidential"]
    assert counted.calls["gpt"] == 0 and sum(counted.calls.values()) == 3


@pytest.mark.parametrize("told", ["confidental", "Secret", "confidential, export"])
def test_an_unknown_label_is_a_usage_error_before_any_call(told: str) -> None:
    counted = Counted()
    with pytest.raises(UnknownSensitivityError) as info:
        counted.orchestrator(MEMBERS, POLICY).run_sync("What is six times seven?", tags={"sensitivity": told})
    assert isinstance(info.value, UsageError) and isinstance(info.value, ShoalError)
    assert "(known: confidential)" in str(info.value) and "[policy] labels" in str(info.value)
    assert sum(counted.calls.values()) == 0


def test_a_misspelt_label_names_the_close_one() -> None:
    with pytest.raises(UnknownSensitivityError, match="did you mean 'confidential'"):
        Policy().clear(Request.of("q", tags=Tags(sensitivity="Confidental")))


def test_every_label_the_config_names_is_known() -> None:
    config = PolicyConfig.model_validate(
        {
            "detected": "Detected",
            "default": "internal",
            "labels": ["Public Data"],
            "rules": [{"match": "falcon", "sensitivity": "Falcon"}],
            "secret": {"allow": ["locality:local"]},
        }
    )
    policy = Policy(config)
    assert policy.known_labels == ["detected", "falcon", "internal", "public data", "secret"]
    assert policy.labels(" PUBLIC   data , Secret,secret") == ["public data", "secret"]
    with pytest.raises(UnknownSensitivityError):
        policy.labels("confidential")  # not named by this config
