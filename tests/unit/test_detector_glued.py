"""Keys glued to a word (``fn_AKIA...``, ``var_sk-proj-...``), without new false positives on real
code; and fixtures of a published secret scanner's test suite.

The ``GGSHIELD`` cases are taken from ggshield 1.56.1 (GitGuardian, MIT licence), the test
fixtures of its sdist on PyPI (``tests/unit/conftest.py``: ``_MULTIPLE_SECRETS_PATCH_CONTENT``,
``_SIMPLE_SECRET_PATCH``, ``_SECRET_RAW_FILE``, ``_MULTILINE_SECRET``, ``_NO_SECRET_PATCH``,
``_MULTI_SECRET_TWO_LINES_PATCH``), each line as the patch adds it.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from orchestrator.sovereignty.detector import detect, redact
from tests.conftest import REPO

GLUED = [
    ("fn_AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("keyAKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("AKIAIOSFODNN7EXAMPLE_old", "AKIAIOSFODNN7EXAMPLE"),
    ("var_sk-proj-4fT9xQ2mLr8vBn3KpZ7wYc1d", "sk-proj-4fT9xQ2mLr8vBn3KpZ7wYc1d"),
    ("x=sk-proj-4fT9xQ2mLr8vBn3KpZ7wYc1d", "sk-proj-4fT9xQ2mLr8vBn3KpZ7wYc1d"),
    ("OPENAI_KEY_sk-ant-api03-abcdEFGH1234ijklMNOP5678", "sk-ant-api03-abcdEFGH1234ijklMNOP5678"),
    ("tok_ghp_pWLuqIA1id6Vw5DQL05HA064GiIjHGb3CXlM", "ghp_pWLuqIA1id6Vw5DQL05HA064GiIjHGb3CXlM"),
    ("my_hf_abcdefghijklmnopqrstuvwxyz1234", "hf_abcdefghijklmnopqrstuvwxyz1234"),
    ("x_sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("prefix_sk-4fT9xQ2mLr8vBn3KpZ7wYc1dAbCd", "sk-4fT9xQ2mLr8vBn3KpZ7wYc1dAbCd"),
    (
        "cookie=abc_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
]

# Words that end like a key's prefix, and identifiers shaped like one but not random.
NOT_KEYS = [
    "task-2024-management-plan-v3",
    "see risk-assessment-2024Q3-final-review for details",
    "task-force-alpha-bravo-charlie-delta",
    "risk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "desk_test_abcdefghijklmnopqrstu",
    "x_sk-abcdefghijklmnopqrstuvwxyz",
    "ASIAPACIFIC2024Q3RESULTS",
    "the ASIA1234567890ABCDEFG region",
    "def parse_github_pat_settings_from_the_environment(): ...",
    "self_hf_transformers_configuration_loader",
    "THAILAND_AND_MALAYSIA_AGPA_REGIONAL_OFFICE",
]


@pytest.mark.parametrize(("text", "key"), GLUED)
def test_a_key_glued_to_a_word_is_found_with_its_own_span(text: str, key: str) -> None:
    found = detect(text)
    assert [f.kind for f in found] == ["api_key"], text
    assert text[found[0].start : found[0].end] == key
    assert key not in redact(text)


@pytest.mark.parametrize("text", NOT_KEYS)
def test_words_ending_like_a_prefix_are_not_keys(text: str) -> None:
    assert detect(text) == []


GGSHIELD = [
    ("-e MYSQL_PASSWORD=m42ploz2wd geonetwork", "password", "m42ploz2wd"),
    (
        "github_token: 368ac3edf9e850d1c0ff9d6c526496f8237ddf91",
        "api_key",
        "368ac3edf9e850d1c0ff9d6c526496f8237ddf91",
    ),
    (
        'sg_key = "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";',
        "api_key",
        "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",
    ),
    (
        "-----BEGIN RSA PRIVATE KEY-----\n"
        "MIIBOgIBAAJBAIIRkYjxjE3KIZiEc8k4sWWGNsPYRNE0u0bl5oFVApPLm+uXQ/4l\n"
        "bKO9LFtMiVPy700oMWLScwAN5OAiqVLMvHUCAwEAAQJANLr8nmEWuV6t2hAwhK5I\n"
        "-----END RSA PRIVATE KEY-----",
        "private_key",
        None,
    ),
]


@pytest.mark.parametrize(("text", "kind", "value"), GGSHIELD)
def test_ggshield_fixtures_are_found(text: str, kind: str, value: str | None) -> None:
    found = detect(text)
    assert [f.kind for f in found] == [kind]
    if value is not None:
        assert text[found[0].start : found[0].end] == value


def test_ggshield_patch_without_a_secret_has_none() -> None:
    assert detect("+this is a patch without secret") == []


@pytest.mark.xfail(strict=True, reason="a secret name glued to a camelCase prefix is not read as a name")
def test_ggshield_camel_case_secret_name() -> None:
    assert [f.kind for f in detect("+FacebookAppSecret = ce3f9f0362bbe5ab01dfc8ee565e4372;")] == ["api_key"]


def test_real_code_holds_no_more_keys_than_before() -> None:
    """Real code holds no keys: the standard library's email, http, json, logging and urllib
    packages none, this repository's engine only the two examples in the detector's docstrings.
    (``python -m benchmarks.detector_scan`` counts every kind on a larger corpus.)"""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [
        p
        for package in ("email", "http", "json", "logging", "urllib")
        for p in (stdlib / package).rglob("*.py")
    ]
    assert len(files) > 20
    stdlib_keys = [
        (p.name, f) for p in files for f in detect(p.read_text(errors="replace")) if f.kind == "api_key"
    ]
    assert stdlib_keys == []
    ours = [
        (p.relative_to(REPO).as_posix(), f.kind)
        for p in sorted((REPO / "orchestrator").rglob("*.py"))
        for f in detect(p.read_text(encoding="utf-8"))
        if f.kind == "api_key"
    ]
    assert ours == [("orchestrator/sovereignty/detector.py", "api_key")] * 2
