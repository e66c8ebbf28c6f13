"""``assembled`` builds the same instance ``model_construct`` does, for every engine model, and
``copied`` the same copy ``model_copy(update=...)`` makes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.types import (
    Call,
    Candidate,
    CandidateError,
    Cluster,
    Route,
    Usage,
    Verdict,
    assembled,
    copied,
)

CASES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (Candidate, {"member": "a", "model": "m", "text": "42", "usage": Usage.of(3, 1), "cost_usd": 0.5}),
    (Candidate, {"member": "a", "model": "m", "error": CandidateError(type="timeout", message="late")}),
    (Call, {"params": {"temperature": 0}, "messages": [{"role": "user", "content": "hi"}]}),
    (Call, {"messages": [], "not_a_field": 1}),
    (Usage, {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}),
    (Cluster, {"answer": "42", "members": ["a"], "indices": [0], "weight": 1.0}),
    (Verdict, {"answer": "42", "confidence": 0.5, "strategy": "vote"}),
]


@pytest.mark.parametrize(("cls", "values"), CASES)
def test_same_instance_as_model_construct(cls: type[BaseModel], values: dict[str, Any]) -> None:
    ours, theirs = assembled(cls, **values), cls.model_construct(**values)
    assert ours == theirs
    assert list(ours.__dict__.items()) == list(theirs.__dict__.items())  # same fields, same order
    assert ours.model_fields_set == theirs.model_fields_set
    assert ours.model_dump() == theirs.model_dump()
    assert ours.model_dump(exclude_unset=True) == theirs.model_dump(exclude_unset=True)
    assert repr(ours) == repr(theirs)


def test_a_default_factory_gives_each_instance_its_own_value() -> None:
    one = assembled(Verdict, answer="", confidence=0.0, strategy="vote")
    two = assembled(Verdict, answer="", confidence=0.0, strategy="vote")
    one.notes.append("x")
    assert two.notes == [] and one.usage is not two.usage


def test_a_model_it_cannot_plan_goes_through_model_construct() -> None:
    class Aliased(BaseModel):
        model_config = ConfigDict(populate_by_name=True)

        value: int = Field(default=0, alias="v")

    assert assembled(Aliased, v=3).value == 3 == Aliased.model_construct(v=3).value


COPIES: list[tuple[BaseModel, dict[str, Any]]] = [
    (Verdict(answer="42", confidence=0.5, strategy="vote", notes=["n"]), {"calls": 3, "latency_s": 0.1}),
    (
        assembled(Verdict, answer="", confidence=0.0, strategy="single"),
        {"route": Route(category="direct", strategy="single"), "usage": Usage.of(1, 2), "sensitivity": []},
    ),
    (Route(category="math", strategy="vote", scores={"math": 0.9}), {"team": "cloud"}),
    (Candidate(member="a", model="m", text="42"), {}),
]


@pytest.mark.parametrize(("model", "update"), COPIES)
def test_same_copy_as_model_copy(model: BaseModel, update: dict[str, Any]) -> None:
    ours, theirs = copied(model, **update), model.model_copy(update=update)
    assert ours is not model and ours.__dict__ is not model.__dict__
    assert list(ours.__dict__.items()) == list(theirs.__dict__.items())
    assert ours.model_fields_set == theirs.model_fields_set
    assert ours.model_fields_set is not model.model_fields_set
    assert (ours.__pydantic_extra__, ours.__pydantic_private__) == (theirs.__pydantic_extra__, None)
    assert ours.model_dump(exclude_unset=True) == theirs.model_dump(exclude_unset=True)
    assert repr(ours) == repr(theirs)
    assert model.model_dump() == type(model).model_validate(model.model_dump()).model_dump()  # untouched


def test_a_model_with_private_state_is_copied_by_model_copy() -> None:
    class Private(BaseModel):
        value: int = 0
        _cache: dict[str, int] = {}

    model = Private(value=1)
    model._cache = {"a": 1}
    copy = copied(model, value=2)
    assert copy.value == 2 and copy._cache == {"a": 1}
