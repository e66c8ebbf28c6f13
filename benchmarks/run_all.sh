#!/bin/sh
# Every figure of benchmarks/RESULTS.md from one run: sh benchmarks/run_all.sh [python] > bench-out/all.txt
# Needs the baseline proxy first: sh benchmarks/setup_baseline.sh
set -eu
py="${1:-.venv/bin/python}"
cd "$(dirname "$0")/.."
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" -m benchmarks.startup --runs 5 --serve-runs 3
"$py" -m benchmarks.per_call --calls 300 --rounds 3
"$py" -m benchmarks.fanout --requests 300 --slow-requests 150
"$py" -m benchmarks.text_keying --repeat 5
"$py" -m benchmarks.proxy_compare --repeats 3 2>/dev/null
"$py" -m benchmarks.growth
"$py" -m benchmarks.local_speed --requests 8 --max-tokens 128
echo "# done $(date -u '+%H:%M UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
