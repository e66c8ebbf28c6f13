"""``shoal serve`` against LiteLLM's own proxy: throughput, added latency, streaming and memory.

    sh benchmarks/setup_baseline.sh          # once: LiteLLM's proxy in benchmarks/.baseline-venv
    python -m benchmarks.proxy_compare [--rates 25 50 100 ...] [--duration 3] [--repeats 3]

One fake upstream (:mod:`benchmarks.fake_upstream`, zero latency; streams of
``--chunks`` deltas ``--chunk-interval-ms`` apart), both proxies with the same
number of workers in front of it (Shoal: one ``openai_compat`` member; LiteLLM:
``litellm --config`` with one ``openai/`` model, no database), and the same
open-loop generator (:mod:`benchmarks.loadgen`, its own process) for every row.
Every fixed rate is sent to the upstream directly, to Shoal and to LiteLLM in
turn (the order alternates between repeats); figures are medians over repeats.

- added latency: proxy minus direct at the same rate and percentile;
- capacity: the highest offered rate each proxy serves with p99 under
  ``--bound-ms`` and without errors;
- streaming: added time to first token, and the gaps between content chunks
  as the client receives them (the upstream's interval should survive);
- memory: resident set of the proxy (and its worker processes) idle, and after
  ``--memory-requests`` proxied requests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks._util import print_table
from benchmarks.proxy_latency import cpu_seconds, stop

ROOT = Path(__file__).resolve().parent.parent
BASELINE = Path(__file__).resolve().parent / ".baseline-venv" / "bin"
SHOAL = Path(sys.executable).parent / "shoal"

SHOAL_CONFIG = """
[members.fake]
provider = "openai_compat"
model = "fake"
api_base = "{url}"
max_concurrency = 4096
max_retries = 0
{panel}
[teams.three]
members = ["m0", "m1", "m2"]

[teams.five]
members = ["m0", "m1", "m2", "m3", "m4"]

[strategies.vote3]
kind = "vote"
team = "three"

[strategies.vote5]
kind = "vote"
team = "five"

[server]
max_concurrent_requests = 4096
"""
PANEL_MEMBER = """
[members.m{i}]
provider = "openai_compat"
model = "fake"
api_base = "{url}"
max_concurrency = 4096
max_retries = 0
"""
# The rows of the sweep: name -> (model asked for, members per request). The ensembles run on
# the same `shoal serve` as the pass-through row; their members are the same fake upstream.
MODELS = {"direct": ("fake", 1), "shoal": ("fake", 1), "litellm": ("fake", 1)}
ENSEMBLES = {"shoal vote3": ("shoal/vote3", 3), "shoal vote5": ("shoal/vote5", 5)}
LITELLM_CONFIG = """
model_list:
  - model_name: fake
    litellm_params:
      model: openai/fake
      api_base: {url}
      api_key: sk-fake
"""


def family(pid: int) -> set[int]:
    """The process and its descendants (Linux ``/proc``)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found = {pid}
    for _ in range(4):
        found |= {p for p, parent in parents.items() if parent in found}
    return found


def rss_mb(pid: int) -> float:
    total = 0
    for p in family(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def wait_http(url: str, proc: subprocess.Popen[Any], timeout: float = 90) -> float:
    """Seconds until ``url`` answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


def start_upstream(chunks: int, interval_ms: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.fake_upstream",
            "--port",
            "0",
            "--chunks",
            str(chunks),
            "--chunk-interval-ms",
            str(interval_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_shoal(tmp: Path, upstream: str, workers: int) -> tuple[subprocess.Popen[str], str, float]:
    config = tmp / "shoal.toml"
    panel = "".join(PANEL_MEMBER.format(i=i, url=upstream) for i in range(5))
    config.write_text(SHOAL_CONFIG.format(url=upstream, panel=panel), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(SHOAL), "serve", "--config", str(config), "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "shoal.log").open("w"),
        text=True,
        env=env,
    )
    wait_http(f"http://127.0.0.1:{port}/health", proc)
    return proc, f"http://127.0.0.1:{port}/v1", time.monotonic() - started


def start_litellm(tmp: Path, upstream: str, workers: int) -> tuple[subprocess.Popen[str], str, float]:
    config = tmp / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(url=upstream), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITELLM_", "DATABASE_URL"))}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            str(BASELINE / "litellm"),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            str(workers),
        ],
        stdout=(tmp / "litellm.log").open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc)
    return proc, f"http://127.0.0.1:{port}/v1", time.monotonic() - started


def stopped(proc: subprocess.Popen[str]) -> None:
    """Stop a process started here (LiteLLM's proxy in its own session, with its children)."""
    if proc.args[0] == str(BASELINE / "litellm"):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    else:
        stop(proc)


def baseline_version() -> str:
    done = subprocess.run(
        [str(BASELINE / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "?"


def load(url: str, *extra: str, stream: bool = False, model: str = "fake") -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.loadgen", "--url", url + "/chat/completions", "--model", model]
        + (["--stream"] if stream else [])
        + list(extra),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return json.loads(done.stdout)


def measured(url: str, pid: int, *extra: str, stream: bool = False, model: str = "fake") -> dict[str, Any]:
    before = cpu_seconds(pid)
    out = load(url, *extra, stream=stream, model=model)
    after = cpu_seconds(pid)
    out["cpu_ms"] = (after - before) / max(1, out["sent"]) * 1000 if before and after else None
    return out


def med(runs: list[dict[str, Any]], *path: str) -> float | None:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            values.append(float(value))
    return statistics.median(values) if values else None


def clean(run: dict[str, Any]) -> bool:
    return run["ok"] == run["sent"] and not run["errors"]


def sweep(
    targets: dict[str, tuple[str, int]], rates: list[float], args: argparse.Namespace, stream: bool
) -> dict[tuple[str, float], list[dict[str, Any]]]:
    results: dict[tuple[str, float], list[dict[str, Any]]] = {}
    saturated: set[str] = set()
    for repeat in range(args.repeats):
        names = list(targets) if repeat % 2 == 0 else list(reversed(targets))
        saturated.clear()
        for rate in rates:
            for name in names:
                if name in saturated:
                    continue
                url, pid = targets[name]
                extra = ("--rate", str(rate), "--duration", str(args.duration), "--drain", "5")
                model = {**MODELS, **ENSEMBLES}[name][0]
                run = measured(url, pid, *extra, stream=stream, model=model)
                results.setdefault((name, rate), []).append(run)
                p99 = run["latency_ms"]["p99"]
                if not clean(run) or p99 is None or p99 > args.saturated_ms:
                    saturated.add(name)  # no point pushing it harder in this repeat
                print(
                    f"  [{'stream' if stream else 'json'} r{repeat}] {name:<11} {rate:>6.0f}/s "
                    f"ok {run['ok']}/{run['sent']} p50 {run['latency_ms']['p50']} p99 {p99} "
                    f"cpu {run['cpu_ms']} lag {run['sched_lag_p99_ms']:.2f}",
                    file=sys.stderr,
                    flush=True,
                )
    return results


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report_json(
    results: dict[tuple[str, float], list[dict[str, Any]]], rates: list[float], bound: float
) -> None:
    rows = []
    for rate in rates:
        direct = results.get(("direct", rate), [])
        d50, d99 = med(direct, "latency_ms", "p50"), med(direct, "latency_ms", "p99")
        row: list[object] = [f"{rate:.0f}", fmt(d50), fmt(d99)]
        added = {}
        for name in ("shoal", "litellm"):
            runs = results.get((name, rate), [])
            ok = [r for r in runs if clean(r)]
            if len(ok) < len(runs) or not runs:
                row += ["overloaded" if runs else "-", "-", "-", "-"]
                added[name] = None
                continue
            p50, p99 = med(ok, "latency_ms", "p50"), med(ok, "latency_ms", "p99")
            a50 = p50 - d50 if p50 is not None and d50 is not None else None
            a99 = p99 - d99 if p99 is not None and d99 is not None else None
            added[name] = a50
            row += [fmt(a50), fmt(a99), fmt(med(ok, "achieved_rate"), 0), fmt(med(ok, "cpu_ms"), 3)]
        s, lt = added["shoal"], added["litellm"]
        row.append(fmt(s / lt) if s is not None and lt else "-")
        rows.append(row)
    print_table(
        "Non-streaming, open loop at fixed rates (medians over repeats; ms)",
        ["rate/s", "direct p50", "direct p99"]
        + [
            f"{n} {c}"
            for n in ("shoal", "litellm")
            for c in ("added p50", "added p99", "req/s", "cpu ms/req")
        ]
        + ["added p50 shoal/litellm"],
        rows,
    )
    caps = {name: capacity(results, name, rates, bound) for name in ("direct", "shoal", "litellm")}
    ratio = caps["shoal"] / caps["litellm"] if caps["litellm"] else float("nan")
    print(
        f"\ncapacity (highest offered rate with p99 <= {bound:.0f} ms, no errors): "
        f"direct {caps['direct']:.0f}/s, shoal {caps['shoal']:.0f}/s, litellm {caps['litellm']:.0f}/s; "
        f"shoal/litellm {ratio:.2f}"
    )
    cpu = []
    for rate in rates:
        ours = med([r for r in results.get(("shoal", rate), []) if clean(r)], "cpu_ms")
        theirs = med([r for r in results.get(("litellm", rate), []) if clean(r)], "cpu_ms")
        if ours is not None and theirs:
            cpu.append(f"{rate:.0f}/s {ours / theirs:.3f} (1/{theirs / ours:.1f})")
    print(f"proxy CPU per request, shoal/litellm: {'; '.join(cpu) or '-'}")


def capacity(
    results: dict[tuple[str, float], list[dict[str, Any]]], name: str, rates: list[float], bound: float
) -> float:
    """The highest offered rate ``name`` served with p99 under ``bound`` and without errors."""
    good = [
        rate
        for rate in rates
        if (runs := results.get((name, rate)))
        and all(clean(r) for r in runs)
        and (p99 := med(runs, "latency_ms", "p99")) is not None
        and p99 <= bound
    ]
    return max(good) if good else 0.0


def report_ensembles(
    results: dict[tuple[str, float], list[dict[str, Any]]], rates: list[float], bound: float
) -> None:
    """The ensembles beside the pass-through: added p50 over direct, CPU per request and per member."""
    rows = []
    for rate in rates:
        d50 = med(results.get(("direct", rate), []), "latency_ms", "p50")
        for name, members in (("shoal", 1), *((n, m) for n, (_, m) in ENSEMBLES.items())):
            runs = results.get((name, rate), [])
            if not runs:
                continue
            ok = [r for r in runs if clean(r)]
            if len(ok) < len(runs):
                rows.append([f"{rate:.0f}", name, members, "overloaded", "-", "-", "-", "-"])
                continue
            p50 = med(ok, "latency_ms", "p50")
            cpu = med(ok, "cpu_ms")
            rows.append(
                [
                    f"{rate:.0f}",
                    name,
                    members,
                    fmt(p50 - d50 if p50 is not None and d50 is not None else None),
                    fmt(med(ok, "latency_ms", "p99")),
                    fmt(med(ok, "achieved_rate"), 0),
                    fmt(cpu, 3),
                    fmt(cpu / members if cpu is not None else None, 3),
                ]
            )
    print_table(
        "Ensembles through shoal serve, beside its pass-through (same server and upstream; medians; ms)",
        ["rate/s", "row", "members", "added p50", "p99", "req/s", "cpu ms/req", "cpu ms/member"],
        rows,
    )
    caps = {name: capacity(results, name, rates, bound) for name in ("shoal", *ENSEMBLES)}
    print(
        f"\ncapacity (p99 <= {bound:.0f} ms, no errors): "
        + ", ".join(f"{name} {cap:.0f}/s" for name, cap in caps.items())
    )


def report_stream(results: dict[tuple[str, float], list[dict[str, Any]]], rates: list[float]) -> None:
    rows = []
    for rate in rates:
        direct = results.get(("direct", rate), [])
        t50 = med(direct, "ttft_ms", "p50")
        for name in ("direct", "shoal", "litellm"):
            runs = [r for r in results.get((name, rate), []) if clean(r)]
            if not runs:
                rows.append([f"{rate:.0f}", name, "overloaded", "-", "-", "-", "-", "-", "-"])
                continue
            ttft50, ttft99 = med(runs, "ttft_ms", "p50"), med(runs, "ttft_ms", "p99")
            rows.append(
                [
                    f"{rate:.0f}",
                    name,
                    fmt(ttft50),
                    fmt(ttft99),
                    "-" if name == "direct" or ttft50 is None or t50 is None else fmt(ttft50 - t50),
                    fmt(med(runs, "gap_ms", "p50")),
                    fmt(med(runs, "gap_ms", "p99")),
                    fmt(med(runs, "chunks_p50"), 0),
                    fmt(med(runs, "cpu_ms"), 3),
                ]
            )
    print_table(
        "Streaming, open loop (medians over repeats; ms)",
        [
            "rate/s",
            "row",
            "TTFT p50",
            "TTFT p99",
            "added TTFT p50",
            "gap p50",
            "gap p99",
            "chunks",
            "cpu ms/req",
        ],
        rows,
    )


def memory(targets: dict[str, tuple[str, int]], fresh: dict[str, float], requests: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for name, (url, pid) in targets.items():
        if name == "direct":
            continue
        warm = rss_mb(pid)
        started = time.perf_counter()
        out = load(url, "--closed", "16", "--requests", str(requests))
        elapsed = time.perf_counter() - started
        after = rss_mb(pid)
        rows.append(
            [
                name,
                f"{fresh[name]:.1f}",
                f"{warm:.1f}",
                f"{after:.1f}",
                f"{after - warm:+.1f}",
                out["ok"],
                f"{out['ok'] / elapsed:.0f}",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[25, 50, 100, 200, 300, 400, 600, 800, 1000]
    )
    parser.add_argument("--stream-rates", type=float, nargs="+", default=[20, 100])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--bound-ms", type=float, default=50.0, help="p99 bound for capacity")
    parser.add_argument(
        "--saturated-ms", type=float, default=1000.0, help="stop raising the rate past this p99"
    )
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--chunk-interval-ms", type=float, default=10.0)
    parser.add_argument("--memory-requests", type=int, default=10000)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    if not (BASELINE / "litellm").exists():
        sys.exit("no baseline proxy: run `sh benchmarks/setup_baseline.sh` first")

    upstream, upstream_url = start_upstream(args.chunks, args.chunk_interval_ms)
    procs: list[subprocess.Popen[str]] = [upstream]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:
            shoal, shoal_url, shoal_ready = start_shoal(tmp, upstream_url, args.workers)
            procs.append(shoal)
            litellm, litellm_url, litellm_ready = start_litellm(tmp, upstream_url, args.workers)
            procs.append(litellm)
            targets = {
                "direct": (upstream_url, upstream.pid),
                "shoal": (shoal_url, shoal.pid),
                "litellm": (litellm_url, litellm.pid),
            }
            ensembles = {name: (shoal_url, shoal.pid) for name in ENSEMBLES}
            fresh = {name: rss_mb(pid) for name, (_, pid) in targets.items()}
            for _, (url, _) in targets.items():  # warm-up: imports, connection pools, caches
                load(url, "--closed", "4", "--requests", "400")
                load(url, "--closed", "4", "--requests", "100", stream=True)
            load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            print(
                f"python {sys.version.split()[0]}; litellm proxy {baseline_version()}; "
                f"{os.cpu_count()} cores; workers {args.workers}; load average before {load_before}"
            )
            print(
                f"ready after start: shoal serve {shoal_ready:.2f} s, litellm --config {litellm_ready:.2f} s"
            )
            if not args.skip_memory:
                rows = memory(targets, fresh, args.memory_requests)
                print_table(
                    f"Resident memory (MB, process + workers): idle, warm, after {args.memory_requests} more",
                    ["proxy", "idle", "warm", "after", "growth", "ok", "req/s (closed, 16)"],
                    rows,
                )
            for name in ENSEMBLES:
                load(shoal_url, "--closed", "4", "--requests", "200", model=ENSEMBLES[name][0])
            json_results = sweep(targets | ensembles, args.rates, args, stream=False)
            report_json(json_results, args.rates, args.bound_ms)
            report_ensembles(json_results, args.rates, args.bound_ms)
            stream_results = sweep(targets, args.stream_rates, args, stream=True)
            print(f"\nupstream stream: {args.chunks} chunks, {args.chunk_interval_ms:.0f} ms apart")
            report_stream(stream_results, args.stream_rates)
            print(f"\nload average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        except Exception:
            for name in ("shoal.log", "litellm.log"):
                if (tmp / name).exists():
                    print(f"--- {name}\n{(tmp / name).read_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            for proc in reversed(procs):
                stopped(proc)


if __name__ == "__main__":
    main()
