"""report.html in a real browser (headless chromium): filters, the detail of a result, a plot's hover
value, no request leaving the page, and a screenshot kept with the test's output."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium
from tests.cli.test_bench_cli import shoal
from tests.helpers import write_config

STRATEGIES = """
[strategies.vote]
kind = "vote"

[strategies.cautious]
kind = "vote"
abstain_below = 0.8
"""


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("html")
    data = root / "sums.jsonl"
    lines = [
        {
            "id": f"sum-{i:02d}",
            "question": f"What is {i} + {i + 1}?",
            "answer": str(2 * i + 1),
            "answer_type": "number",
        }
        for i in range(40)
    ]
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = write_config(
        root / "sim.toml",
        {f"m{i}": {"simulate": {"p": p, "rho": 0.1, "seed": i}} for i, p in enumerate((0.75, 0.6, 0.5))},
        STRATEGIES,
    )
    out = root / "run"
    done = shoal(
        "bench",
        "-d",
        str(data),
        "-s",
        "single,vote,cautious",
        "-c",
        str(config),
        "--no-plots",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert (out / "report.html").is_file()
    return out


def rows_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_report_filters_details_and_hover_in_chromium(
    bench_run: Path, tmp_path: Path, record_property: Any
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    rows = rows_of(bench_run)
    wrong_votes = [r for r in rows if r["strategy"] == "vote" and r["status"] == "wrong"]
    abstained = [r for r in rows if r["strategy"] == "cautious" and r["status"] == "abstained"]
    assert wrong_votes and abstained  # the simulated panel errs and the cautious vote abstains
    with chromium() as driver:
        driver.get((bench_run / "report.html").as_uri())
        WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready")
        )
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        count = driver.find_element(By.ID, "count")
        assert count.text == f"{len(rows)} of {len(rows)} results"

        strategy = Select(driver.find_element(By.ID, "f-strategy"))
        strategy.select_by_visible_text(f"vote ({sum(r['strategy'] == 'vote' for r in rows)})")
        status = Select(driver.find_element(By.ID, "f-status"))
        status.select_by_value("wrong")
        assert count.text == f"{len(wrong_votes)} of {len(rows)} results"
        shown = driver.find_elements(By.CSS_SELECTOR, "#list .row")
        assert len(shown) == min(len(wrong_votes), len(shown)) and shown
        assert {r.get_attribute("data-status") for r in shown} == {"wrong"}
        assert {r.get_attribute("data-strategy") for r in shown} == {"vote"}
        ids = {r.find_element(By.CSS_SELECTOR, "span").text for r in shown}
        assert ids <= {r["item"] for r in wrong_votes}

        shown[0].click()
        picked = next(
            r for r in wrong_votes if r["item"] == shown[0].find_element(By.CSS_SELECTOR, "span").text
        )
        detail = driver.find_element(By.ID, "detail")
        assert driver.find_element(By.ID, "detail-title").text == f"{picked['item']} · vote"
        assert picked["question"] in detail.text and picked["gold"] in detail.text
        assert "status wrong" in driver.find_element(By.ID, "verdict-facts").text
        for member in ("member:m0", "member:m1", "member:m2"):
            assert member in detail.text  # every member's answer on this item
        assert "Clusters" in detail.text

        status.select_by_value("disagreement")
        split = driver.find_elements(By.CSS_SELECTOR, "#list .row")
        expected = [r for r in rows if r["strategy"] == "vote" and len(r["clusters"]) > 1]
        assert count.text == f"{len(expected)} of {len(rows)} results"
        assert all(r.find_elements(By.CSS_SELECTOR, ".badge.split") for r in split)

        strategy.select_by_value("2")  # cautious
        status.select_by_value("abstained")
        assert count.text == f"{len(abstained)} of {len(rows)} results"

        mark = driver.find_element(By.CSS_SELECTOR, "svg.plot g.mark circle")
        ActionChains(driver).move_to_element(mark).perform()
        tip = driver.find_element(By.ID, "tip")
        WebDriverWait(driver, 5).until(lambda d: tip.is_displayed())
        tips = [m.get_attribute("data-tip") for m in driver.find_elements(By.CSS_SELECTOR, "svg.plot g.mark")]
        assert tip.text in tips and re.match(r"^\S+: accuracy \d+\.\d% \[", tip.text)

        status.select_by_value("wrong")
        strategy.select_by_value("1")
        driver.find_elements(By.CSS_SELECTOR, "#list .row")[0].click()
        driver.execute_script("document.getElementById('results').scrollIntoView()")
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot))
        full = tmp_path / "report-top.png"
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(full))
    record_property("screenshot", str(shot))
    print(f"screenshots: {shot} {full}")
    assert shot.stat().st_size > 10_000


def test_a_large_report_renders_only_the_rows_in_view(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from benchmarks.html_report import synthetic_report

    path = synthetic_report(tmp_path, items=1000, strategies=5, members=3)
    with chromium() as driver:
        driver.get(path.as_uri())
        WebDriverWait(driver, 60).until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready")
        )
        total = 1000 * (5 + 3)
        assert driver.find_element(By.ID, "count").text == f"{total} of {total} results"
        assert len(driver.find_elements(By.CSS_SELECTOR, "#list .row")) < 100
        driver.execute_script("const l = document.getElementById('list'); l.scrollTop = l.scrollHeight;")
        WebDriverWait(driver, 5).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, f'#list .row[data-k="{total - 1}"]')
        )
        Select(driver.find_element(By.ID, "f-status")).select_by_value("wrong")
        rows = driver.find_elements(By.CSS_SELECTOR, "#list .row")
        assert rows and {r.get_attribute("data-status") for r in rows} == {"wrong"}
