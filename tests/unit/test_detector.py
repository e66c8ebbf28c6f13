"""The secret/personal-data detector: examples in English and Japanese, checksums, the labelled sets."""

from __future__ import annotations

import json
import time
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.sovereignty.detector import KINDS, Finding, detect, evaluate, luhn_ok, my_number_ok

POSITIVE = [
    ("use sk-proj-bYrEqmSM9wCZ7Uw9xfogoEmvnEN5N1aE6PwZPf1Qh6yY for the call", "api_key"),
    ("aws_access_key_id = AKIAI1QZJ865UFRDL1ER", "api_key"),
    ("Authorization: Bearer Q0PBQFI14zGtSnovm14TUOizwd1iaeOV", "api_key"),
    ('{"client_secret": "9fK2mQ7xLp4RtZ8vN1bW6cY3"}', "api_key"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "private_key"),
    ("db_password = 'Tr0ub4dor&3'", "password"),
    ("psql postgres://app:Xk29pqLm@db.internal/sales", "password"),
    ("write to maria.garcia+orders@gmail.com today", "email"),
    ("call +1 (415) 555-0132", "phone"),
    ("card 4599 5289 0786 6668 exp 09/27", "credit_card"),
    ("GitHubのトークン ghp_pWLuqIA1id6Vw5DQL05HA064GiIjHGb3CXlM が失効しました", "api_key"),
    ("パスワードは「Sakura2024」です", "password"),
    ("山田さんのメールは yamada.taro@example.co.jp です", "email"),
    ("携帯番号は090-1234-5678です", "phone"),
    ("電話は０９０－８７６５－４３２１まで", "phone"),
    ("本社 03-1234-5678", "phone"),
    ("マイナンバーは301661318600です", "my_number"),
    ("個人番号：9139 0996 0300", "my_number"),
    ("カード番号は４７８３９７０５２３２７９２８８です", "credit_card"),
]

NEGATIVE = [
    "What is the capital of France?",
    "api_key = os.environ['OPENAI_API_KEY']",
    "password = getpass.getpass('Password: ')",
    "set the password to <your password>",
    "My order number is 123456789012, when will it ship?",
    "Version 2.14.3 was released on 2024-05-01 at 10:30 UTC.",
    "Commit 9fceb02d0ae598e95dc970b74767f19372d61af8 broke the build",
    "The tracking number 4885393363387509 doesn't work.",  # fails Luhn
    "注文番号 123456789012 の配送状況",
    "1234-5678-9012 は有効なマイナンバーですか？",  # check digit wrong
    "パスワードは8文字以上にしてください",
    "郵便番号 100-0001 はどこ？",
    "座標 35.6812, 139.7671 は東京駅ですか？",
    "マイナンバー制度のメリットは？",
]


@pytest.mark.parametrize(("text", "kind"), POSITIVE)
def test_finds_each_kind(text: str, kind: str) -> None:
    assert kind in {f.kind for f in detect(text)}


@pytest.mark.parametrize("text", NEGATIVE)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert detect(text) == []


def test_reports_kind_and_span_never_the_value() -> None:
    text = "key: sk-proj-bYrEqmSM9wCZ7Uw9xfogoEmvnEN5N1aE6PwZPf1Qh6yY, mail ken@example.jp"
    findings = detect(text)
    assert [f.kind for f in findings] == ["api_key", "email"]
    assert text[findings[1].start : findings[1].end] == "ken@example.jp"
    assert set(Finding.__dataclass_fields__) == {"kind", "start", "end"}  # no value is kept
    assert all("ken@" not in f.describe() and "sk-" not in f.describe() for f in findings)


def test_full_width_spans_point_into_the_original_text() -> None:
    text = "電話は０９０－８７６５－４３２１まで"
    (finding,) = detect(text)
    assert text[finding.start : finding.end] == "０９０－８７６５－４３２１"


def test_luhn_and_my_number_check_digits() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert my_number_ok("123456789018") and not my_number_ok("123456789012")
    assert [d for d in "0123456789" if my_number_ok("30166131860" + d)] == ["0"]


def test_a_valid_my_number_needs_a_word_that_names_it() -> None:
    assert detect("ID 3016 6131 8600") == []
    assert [f.kind for f in detect("個人番号 3016 6131 8600")] == ["my_number"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_spans_inside_it(text: str) -> None:
    for f in detect(text):
        assert 0 <= f.start < f.end <= len(text)
        assert f.kind in KINDS


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[1-9]\d{15}", fullmatch=True))
def test_a_card_number_failing_luhn_is_never_a_card(digits: str) -> None:
    if not luhn_ok(digits):
        assert "credit_card" not in {f.kind for f in detect(f"number {digits} here")}


def _rows(name: str) -> list[dict[str, object]]:
    text = resources.files("orchestrator").joinpath("data", f"{name}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("name", ["detector_labelled", "detector_heldout"])
def test_precision_and_recall_on_the_labelled_sets(name: str) -> None:
    rows = _rows(name)
    assert {r["lang"] for r in rows} == {"en", "ja"}
    assert sum(1 for r in rows if r["kinds"]) >= 30 and sum(1 for r in rows if not r["kinds"]) >= 30
    overall = evaluate(rows)["any"]
    assert overall.precision >= 0.95
    assert overall.recall >= 0.95


def test_evaluate_counts_a_miss_and_a_false_alarm() -> None:
    rows = [
        {"text": "mail ken@example.jp", "kinds": ["email"]},
        {"text": "nothing here", "kinds": ["email"]},  # a miss
        {"text": "call 090-1234-5678", "kinds": []},  # a false alarm, by this label
        {"text": "plain", "kinds": []},
    ]
    scores = evaluate(rows)
    assert (scores["any"].true_pos, scores["any"].false_neg, scores["any"].false_pos) == (1, 1, 1)
    assert scores["any"].precision == 0.5 and scores["any"].recall == 0.5


@pytest.mark.parametrize(
    "text",
    [
        "1" * 100_000,
        "a_" * 50_000,
        "a1-" * 33_000,
        "1 " * 50_000,
        "https://a:" * 10_000,
        "(1)" * 33_000,
        "0-" * 50_000,
    ],
)
def test_long_adversarial_text_is_scanned_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    detect(text)
    assert time.perf_counter() - started < 2.0
