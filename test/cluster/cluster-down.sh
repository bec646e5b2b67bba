#!/usr/bin/env bash
# Stops exactly the processes cluster-up.sh started (by pid file, checking the
# process still runs the binary we launched) and removes the cluster state.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
PIDS="$CLUSTER_DIR/pids"

stop() { # NAME
	local f="$PIDS/$1.pid" pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$1"; then
		kill "$pid" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
	fi
	rm -f "$f"
}

# Reverse start order: clients first, etcd last.
for c in gpuquota-controller fake-mig-manager kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
	stop "$c"
done
rm -rf "$CLUSTER_DIR"
echo "cluster-down: stopped and removed $CLUSTER_DIR" >&2
