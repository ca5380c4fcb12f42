#!/bin/sh
# The wsbench api scenario on two wsedge nodes sharing a NATS server, all on this host:
#   bench/api-cluster.sh -subs 15000 -rate 2 -duration 20s
# builds bin/wsedge, bin/wsbench and bin/nats-server (from the module's nats-server), starts
# NATS and the nodes on fixed loopback ports, runs `wsbench api` with the given flags (the URLs,
# the API, the key and the nodes' pids are filled in) and stops everything. Output: wsbench's.
set -eu
BIN=${BIN:-bin}
go build -o "$BIN/wsedge" ./cmd/wsedge
go build -o "$BIN/wsbench" ./cmd/wsbench
go build -o "$BIN/nats-server" github.com/nats-io/nats-server/v2
export WSEDGE_API_KEY=${WSEDGE_API_KEY:-bench-api-key-0123456789abcdef}
nodes=""
cleanup() { # the nodes first (they drain), then NATS
	for p in $nodes; do kill "$p" 2>/dev/null || true; done
	for p in $nodes; do wait "$p" 2>/dev/null || true; done
	kill "$nats" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
"$BIN/nats-server" -a 127.0.0.1 -p 14222 >/dev/null 2>&1 &
nats=$!
sleep 0.5
"$BIN/wsedge" -addr 127.0.0.1:18081 -admin-addr 127.0.0.1:19091 -api-addr 127.0.0.1:18001 -node-name bench-1 \
	-broker nats://127.0.0.1:14222 -log-level warn &
n1=$!
"$BIN/wsedge" -addr 127.0.0.1:18082 -admin-addr 127.0.0.1:19092 -api-addr 127.0.0.1:18002 -node-name bench-2 \
	-broker nats://127.0.0.1:14222 -log-level warn &
n2=$!
nodes="$n1 $n2"
sleep 3 # the nodes hear each other's heartbeat (every 2 s)
"$BIN/wsbench" api -url ws://127.0.0.1:18081/ws -nodes ws://127.0.0.1:18082/ws -api http://127.0.0.1:18001 \
	-server-pids "$n1,$n2" "$@"
