#!/usr/bin/env bash
# Stops exactly the processes cluster-up.sh started (by pid file, checking the
# process still runs what we launched; each leads its own process group, so
# its children stop with it) and removes the cluster state.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
PIDS="$CLUSTER_DIR/pids"
COMPONENTS="kube-proxy kubelet containerd prometheus gpuquota-controller fake-mig-manager kwok kube-scheduler kube-controller-manager kube-apiserver etcd"

# ours NAME: prints the pid of component NAME if it still runs what we launched
# (pids get reused).
ours() {
	local f="$PIDS/$1.pid" pid
	[ -f "$f" ] || return 1
	pid=$(cat "$f")
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$1" || return 1
	echo "$pid"
}

# The real node first (its kubelet, containers, mounts, cgroups, network
# namespace), while the apiserver still runs.
if [ -f "$CLUSTER_DIR/node.env" ]; then
	CLUSTER_DIR="$CLUSTER_DIR" "$ROOT/test/cluster/node.sh" down
fi

pids=()
for c in $COMPONENTS; do
	if pid=$(ours "$c"); then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
		pids+=("$pid")
	fi
done
for ((i = 0; i < 100; i++)); do
	left=0
	for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
	[ $left = 0 ] && break
	sleep 0.1
done
for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
rm -rf "$CLUSTER_DIR"
echo "cluster-down: stopped ${#pids[@]} processes and removed $CLUSTER_DIR" >&2
