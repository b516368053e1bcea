#!/usr/bin/env bash
# Builds the single executable, runs it from an empty directory (no node_modules anywhere near it)
# on a config with one dependency-free fixture backend (auth off, loopback), checks /health and one
# tools/call, and stops it.
# Prints the binary's size and its time from launch to the first 200 from /health/live.
# Set SKIP_BUILD=1 to test an existing dist/1mcp.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ "${SKIP_BUILD:-}" = 1 ] || npm run --silent build:binary

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cp dist/1mcp "$work/1mcp"
port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
cat > "$work/config.json" <<JSON
{
  "mcpServers": {
    "plain": { "command": "$(command -v node)", "args": ["$root/test/fixtures/plain-server.mjs"], "tags": ["smoke"] }
  },
  "port": $port,
  "logLevel": "warn"
}
JSON

cd "$work"
start=$(date +%s%N)
./1mcp serve --config config.json --no-auth > "$work/gateway.log" 2>&1 &
pid=$!
live=""
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$port/health/live" > /dev/null 2>&1; then live=$(( ($(date +%s%N) - start) / 1000000 )); break; fi
  kill -0 "$pid" 2>/dev/null || { echo "the binary exited:"; cat "$work/gateway.log"; exit 1; }
  sleep 0.02
done
[ -n "$live" ] || { echo "no answer from /health/live within 12 s"; cat "$work/gateway.log"; exit 1; }

health=""
for _ in $(seq 1 200); do
  health="$(curl -sS "http://127.0.0.1:$port/health")"
  case "$health" in *'"state":"ready"'*) break ;; esac
  sleep 0.05
done
echo "$health"
case "$health" in *'"status":"healthy"'*'"name":"plain"'*'"state":"ready"'*) ;; *) echo "the backend is not ready"; cat "$work/gateway.log"; exit 1 ;; esac

# One MCP call through the binary: initialize, then tools/call on the fixture. A freshly started
# gateway on a busy machine may shed load (503, -32003) for a moment: each step retries for up to 10 s.
mcp() {
  local out
  for _ in $(seq 1 20); do
    out="$(curl -sS -D "$work/headers" "http://127.0.0.1:$port/mcp" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' "$@")"
    case "$out" in *'"code":-32003'*) sleep 0.5 ;; *) break ;; esac
  done
  echo "$out"
}
init="$(mcp -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"smoke","version":"1"}}}')"
session="$(tr -d '\r' < "$work/headers" | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')"
[ -n "$session" ] || { echo "no Mcp-Session-Id from initialize:"; cat "$work/headers"; echo "$init"; exit 1; }
call="$(mcp -H "mcp-session-id: $session" -H 'mcp-protocol-version: 2025-06-18' -d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"plain_1mcp_echo","arguments":{"text":"from the binary"}}}')"
echo "$call"
case "$call" in *'plain: from the binary'*) ;; *) echo "tools/call through the binary failed"; exit 1 ;; esac

kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""
size=$(stat -c %s "$root/dist/1mcp")
echo "binary-smoke: ok; size $((size / 1024 / 1024)) MB ($size bytes); time to /health/live ${live} ms"
