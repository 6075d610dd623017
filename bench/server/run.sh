#!/usr/bin/env bash
# fanout-server next to AgentOS (agno + uvicorn), same machine, one run: RUNS (default 1000)
# concurrent streamed runs of a seed-like agent (3 async tools of 10 ms) whose model is the same
# loopback scripted OpenAI-compatible server (fanout-testserver). Prints one JSON line per side.
#
#   eval "$(.ci/install-agno)"; bash bench/server/run.sh [RUNS]   # AgentOS's own API
#   bash bench/server/run.sh RUNS agui                             # AG-UI: POST /agui
#   bash bench/server/run.sh RUNS a2a                              # A2A 0.3 JSON-RPC message/stream
#
# PROTOCOL (agentos, agui or a2a) is bench_load's: agui and a2a serve the agent through Agno's
# AG-UI or A2A interface (AGNO_INTERFACES), whose packages live in bench/server/.venv, made by
# bench/server/install-interfaces (run here; bench only, not CI's .ci/install-agno).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-1000}
PROTOCOL=${2:-agentos}
if [ "$PROTOCOL" = agentos ]; then
  PY=${FANOUT_AGNO_PYTHON:-.ci/agno/venv/bin/python}
else
  PY=$(bash bench/server/install-interfaces)
fi
cargo build --release --locked -q -p fanout-testserver -p fanout-server --bin fanout-testserver --example bench_serve --example bench_load
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
first_line() { for _ in $(seq 1 200); do [ -s "$1" ] && head -1 "$1" && return; sleep 0.05; done; echo "no output in $1" >&2; exit 1; }

$bin/fanout-testserver --port 0 --tool-args '{"delay":10}' > "$tmp/model" 2>/dev/null &
pids+=($!)
model=$(first_line "$tmp/model" | sed 's/listening on //')
export OPENAI_BASE_URL=$model OPENAI_API_KEY=bench

FANOUT_ADDR=127.0.0.1:0 $bin/examples/bench_serve > "$tmp/fanout" 2>/dev/null &
fpid=$!
pids+=($fpid)
furl=$(first_line "$tmp/fanout" | sed 's/listening on //')
echo "fanout-server: $($bin/examples/bench_load "$furl" seed "$RUNS" "$fpid" "$PROTOCOL")"
kill "$fpid"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PORT=$port AGNO_INTERFACES=$PROTOCOL AGNO_TELEMETRY=false "$PY" bench/server/agentos_app.py > "$tmp/agentos" 2>&1 &
apid=$!
pids+=($apid)
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 || { echo "AgentOS did not start:" >&2; cat "$tmp/agentos" >&2; exit 1; }
echo "agentos: $($bin/examples/bench_load "http://127.0.0.1:$port" seed "$RUNS" "$apid" "$PROTOCOL")"
