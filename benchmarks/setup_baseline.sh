#!/bin/sh
# Creates benchmarks/.baseline-venv with LiteLLM's own proxy, the baseline of benchmarks/proxy_compare.py.
# litellm[proxy] at the version Shoal uses cannot be installed (its extra pins a litellm-proxy release
# the package index does not carry), so the baseline proxy is the newest release whose extra resolves.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.baseline-venv"
version="${LITELLM_BASELINE_VERSION:-1.80.0}"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "litellm[proxy]==$version"
"$venv/bin/litellm" --version >/dev/null 2>&1 || true
echo "$venv/bin/litellm (litellm[proxy]==$version)"
