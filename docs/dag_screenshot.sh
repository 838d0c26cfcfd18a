#!/usr/bin/env bash
# Screenshot of the pipeline DAG: `kedro viz build` writes the static site, a local HTTP server
# serves it on 127.0.0.1, headless Chromium (Debian's `chromium` package) renders and captures it.
#   make dag-screenshot       (apt-get install chromium, once)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/images/kedro_viz_dag.png}
port=${PORT:-8765}
KEDRO_DISABLE_TELEMETRY=true .venv/bin/kedro viz build >/dev/null
.venv/bin/python -m http.server "$port" --bind 127.0.0.1 --directory build >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
sleep 1
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$(mktemp -d)" --hide-scrollbars --window-size=1600,1000 \
  --virtual-time-budget=15000 --screenshot="$PWD/$out" "http://127.0.0.1:$port/" 2>/dev/null
echo "wrote $out"
