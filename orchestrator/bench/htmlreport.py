"""report.html: one self-contained page to click through a benchmark (nothing loaded at view time).

The summary table, the plots as inline SVG (values on hover), and every result:
the question, the gold answer, each member's answer, the clusters, the verdict
and its notes, filterable by strategy and status (wrong, abstained,
disagreement: the answers fell into more than one cluster). The results travel
as JSON inside the page and the list renders only the rows in view, so a run of
1,000 items x 5 strategies opens as fast as a small one
(``python -m benchmarks.html_report`` measures it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from typing import Any

from orchestrator.bench.svgplots import accuracy_cost_svg, heatmap_svg, reliability_svg, risk_svg

__all__ = ["REPORT_HTML", "page_data", "render_html"]

REPORT_HTML = "report.html"
MEMBER_PREFIX = "member:"


def page_data(summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The results as the page reads them: items once, then one compact record per result."""
    names = [*summary["strategies"], *(MEMBER_PREFIX + m for m in summary["members"])]
    index = {name: k for k, name in enumerate(names)}
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for row in rows:
        if row["strategy"] in index:
            latest[(row["item"], row["strategy"])] = row  # a re-run line replaces the older one
    items: list[dict[str, Any]] = []
    item_index: dict[str, int] = {}
    results = []
    for (item, name), row in latest.items():
        if item not in item_index:
            item_index[item] = len(items)
            items.append(
                {
                    "id": item,
                    "q": row.get("question") or "",
                    "gold": row.get("gold"),
                    "type": row.get("answer_type"),
                }
            )
        clusters = row.get("clusters") or []
        results.append(
            {
                "i": item_index[item],
                "s": index[name],
                "st": row["status"],
                "d": len(clusters) > 1,  # disagreement
                "a": row.get("answer"),
                "x": row.get("extracted"),
                "c": row.get("confidence"),
                "n": row.get("calls"),
                "usd": row.get("cost_usd"),
                "t": row.get("latency_s"),
                "err": row.get("error"),
                "note": row.get("note"),
                "notes": row.get("notes") or [],
                "cl": [[c.get("answer"), c.get("members"), c.get("weight")] for c in clusters],
                "cand": [
                    [c["member"], c["role"], c.get("text"), c.get("error")] for c in row.get("candidates", [])
                ],
            }
        )
    results.sort(key=lambda r: (r["i"], r["s"]))
    return {"names": names, "baseline": summary.get("baseline"), "items": items, "results": results}


def render_html(summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    from orchestrator.bench.report import STRATEGY_COLUMNS, strategy_row

    data = page_data(summary, rows)
    dataset = summary["dataset"]
    table = [[*strategy_row(n, s)] for n, s in summary["strategies"].items()]
    table += [[MEMBER_PREFIX + n, *strategy_row(n, s)[1:]] for n, s in summary["members"].items()]
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(row["strategy"], []).append(row)
    calibrated = {n: by_name.get(n, []) for n in summary["strategies"]}
    plots = [accuracy_cost_svg(summary), reliability_svg(calibrated), risk_svg(calibrated)]
    panel = summary.get("panel")
    if panel and len(panel["members"]) >= 2:
        plots.append(heatmap_svg(panel))
    title = f"Benchmark: {dataset.get('name')}"
    head = "".join(f"<th>{escape(c)}</th>" for c in STRATEGY_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table)
    run = summary["run"]
    about = (
        f"{dataset['items']} items · licence {escape(str(dataset.get('licence', '-')))} · baseline "
        f"<code>{escape(str(summary['baseline']))}</code> · {run['rows']} results · "
        f"{'complete' if run['complete'] else 'INCOMPLETE (interrupted)'}"
    )
    # No "<" at all inside the script element: neither "</script>" nor "<!--" can end or bend it.
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    asset = resources.files("orchestrator.bench").joinpath("report_assets")
    css = asset.joinpath("report.css").read_text(encoding="utf-8")
    js = asset.joinpath("report.js").read_text(encoding="utf-8")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{css}</style></head>
<body>
<header><h1>{escape(title)}</h1><p>{escape(str(dataset.get("title") or dataset.get("path") or ""))}</p>
<p>{about}</p></header>
<section><h2>Strategies and members</h2>
<div class="scroll"><table id="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>
<p class="hint">Accuracy over all items (abstentions and failures count as not correct), Wilson 95% intervals;
the difference to the baseline with a paired bootstrap interval and McNemar's exact test.</p></section>
<section><h2>Plots</h2><div class="plots">{"".join(plots)}</div></section>
<section id="results"><h2>Results</h2>
<div class="filters">
<label>strategy <select id="f-strategy"></select></label>
<label>status <select id="f-status"></select></label>
<label>search <input id="f-search" type="search" placeholder="item id or question text"></label>
<span id="count"></span></div>
<div class="split"><div id="list" tabindex="0"><div id="spacer"></div></div>
<div id="detail"><p class="hint">Pick a result on the left.</p></div></div></section>
<div id="tip" role="tooltip"></div>
<script type="application/json" id="data">{blob}</script>
<script>{js}</script>
</body></html>
"""
